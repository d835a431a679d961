import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  type Stats,
  writeSync,
} from 'node:fs';
import { createInterface } from 'node:readline';
import { setImmediate } from 'node:timers/promises';
import { createGunzip, gunzipSync } from 'node:zlib';
import type { Pacer } from './budget.js';
import { compareNames, encodeEntry, type LayerEntry, nameToString } from './records.js';

export interface LayerHashResult {
  /** sha256 over the records file: the layer's content identity. */
  contentDigest: string;
  entries: number;
  /** Σ st_size of regular files, a hard-linked inode once. */
  regularBytes: number;
  /** Files whose content was read and hashed (a hard-linked inode once). */
  hashedFiles: number;
  /** Regular files of at least `bigFileBytes`: [contentHash, size, path] (primary paths only). */
  bigFiles: Array<[string, number, string]>;
}

export interface HashLayerOptions {
  pacer: Pacer;
  /** Directories (absolute `/a/b` form) the layer tar marks opaque, from the layerdb tar-split. */
  opaqueDirs?: ReadonlySet<string>;
  bigFileBytes: number;
  /** Read buffer; one per hasher, reused for every file. */
  buffer?: Buffer;
}

const CHUNK = 1 << 20;
/** Yield to the event loop after this many bytes read or entries handled synchronously. */
const YIELD_BYTES = 8 << 20;
const YIELD_ENTRIES = 500;
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
/** Compressed tar-splits up to this size are inflated in one call (a few MiB of text at most). */
const SMALL_TAR_SPLIT_BYTES = 64 * 1024;

interface Frame {
  dir: Buffer;
  rel: string;
  children: Child[];
  index: number;
}

/** `text` is the path element the entry stands for: a `.wh.name` whiteout file sorts as `name`. */
interface Child {
  name: Buffer;
  text: string;
  whiteoutFile: boolean;
}

const SLASH = Buffer.from('/');

function childrenOf(dir: Buffer): Child[] {
  return readdirSync(dir, { encoding: 'buffer' })
    .map((name) => {
      const text = nameToString(name);
      const whiteoutFile = text.startsWith(WHITEOUT_PREFIX) && text !== OPAQUE_MARKER;
      return { name, text: whiteoutFile ? text.slice(WHITEOUT_PREFIX.length) : text, whiteoutFile };
    })
    .sort((a, b) => compareNames(a.text, b.text));
}

/**
 * Walks one layer's diff directory without following symlinks (never a `merged/` mount: only
 * `diff/` is given) in tree order, hashing each regular file's content in 1 MiB reads, and
 * writes one record per entry to `recordsFd` while hashing those records into the content
 * digest. Memory is the walk stack (one directory's sorted names per level) plus the inode
 * map of hard links; the records themselves go to disk.
 */
export async function hashLayer(
  diffDir: string,
  recordsFd: number,
  options: HashLayerOptions,
): Promise<LayerHashResult> {
  const { pacer, opaqueDirs, bigFileBytes } = options;
  const buffer = options.buffer ?? Buffer.allocUnsafe(CHUNK);
  const digest = createHash('sha256');
  const result: LayerHashResult = { contentDigest: '', entries: 0, regularBytes: 0, hashedFiles: 0, bigFiles: [] };
  /** ino → first path, for inodes with more than one link (only those can be met twice). */
  const linked = new Map<number, string>();
  let pendingOut = '';
  let sinceYieldBytes = 0;
  let sinceYieldEntries = 0;

  const emit = (e: LayerEntry) => {
    const line = encodeEntry(e);
    digest.update(line);
    pendingOut += line;
    result.entries += 1;
    if (pendingOut.length >= 64 * 1024) {
      writeSync(recordsFd, pendingOut);
      pendingOut = '';
    }
  };

  const hashFile = async (file: Buffer, expected: Stats): Promise<string> => {
    const expectedSize = expected.size;
    // O_NOFOLLOW and O_NONBLOCK: a path swapped for a symlink or a fifo since lstat is neither
    // followed nor waited on; the inode check below then refuses it.
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const opened = fstatSync(fd);
      if (!opened.isFile() || opened.ino !== expected.ino || opened.dev !== expected.dev) {
        throw new Error(`${nameToString(file)} changed while it was hashed`);
      }
      const h = createHash('sha256');
      let total = 0;
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, null);
        if (n === 0) break;
        h.update(buffer.subarray(0, n));
        total += n;
        sinceYieldBytes += n;
        const wait = pacer.charge(n);
        if (wait) {
          await wait;
          sinceYieldBytes = 0;
        } else if (sinceYieldBytes >= YIELD_BYTES) {
          sinceYieldBytes = 0;
          await setImmediate();
        }
      }
      // Layer content is immutable; a size change means the directory is not a committed layer.
      if (total !== expectedSize || fstatSync(fd).size !== expectedSize) {
        throw new Error(`${nameToString(file)} changed while it was hashed`);
      }
      return h.digest('hex');
    } finally {
      closeSync(fd);
    }
  };

  const root = Buffer.from(diffDir);
  const stack: Frame[] = [{ dir: root, rel: '', children: childrenOf(root), index: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    const child = frame.children[frame.index];
    if (!child) {
      stack.pop();
      continue;
    }
    frame.index += 1;
    if (!child.whiteoutFile && child.text === OPAQUE_MARKER) continue; // read with its directory, below
    const full = Buffer.concat([frame.dir, SLASH, child.name]);
    const st: Stats = lstatSync(full);
    const rel = `${frame.rel}/${child.text}`;
    const mode = st.mode & 0o7777;
    const wait = pacer.file();
    if (wait) await wait;
    if (st.isDirectory()) {
      const children = childrenOf(full);
      const opaque = opaqueDirs?.has(rel) === true || children.some((c) => !c.whiteoutFile && c.text === OPAQUE_MARKER);
      emit({ path: rel, type: 'd', mode, size: 0, payload: opaque ? 'opaque' : '' });
      stack.push({ dir: full, rel, children, index: 0 });
    } else if (st.isFile()) {
      if (child.whiteoutFile) {
        // aufs-style whiteout file (`.wh.name`), as layer tars carry them.
        emit({ path: rel, type: 'w', mode: 0, size: 0, payload: '' });
      } else {
        const first = st.nlink > 1 ? linked.get(st.ino) : undefined;
        if (first !== undefined) {
          emit({ path: rel, type: 'h', mode, size: st.size, payload: first });
        } else {
          const hash = await hashFile(full, st);
          if (st.nlink > 1) linked.set(st.ino, rel);
          result.hashedFiles += 1;
          result.regularBytes += st.size;
          if (st.size >= bigFileBytes) result.bigFiles.push([hash, st.size, rel]);
          emit({ path: rel, type: 'f', mode, size: st.size, payload: hash });
        }
      }
    } else if (st.isSymbolicLink()) {
      emit({ path: rel, type: 'l', mode, size: 0, payload: nameToString(readlinkSync(full, { encoding: 'buffer' })) });
    } else if (st.isCharacterDevice()) {
      if (st.rdev === 0) emit({ path: rel, type: 'w', mode: 0, size: 0, payload: '' });
      else emit({ path: rel, type: 'c', mode, size: 0, payload: deviceNumbers(st.rdev) });
    } else if (st.isBlockDevice()) {
      emit({ path: rel, type: 'b', mode, size: 0, payload: deviceNumbers(st.rdev) });
    } else if (st.isFIFO()) {
      emit({ path: rel, type: 'p', mode, size: 0, payload: '' });
    } else {
      emit({ path: rel, type: 's', mode, size: 0, payload: '' });
    }
    sinceYieldEntries += 1;
    if (sinceYieldEntries >= YIELD_ENTRIES) {
      sinceYieldEntries = 0;
      await setImmediate();
    }
  }
  if (pendingOut.length > 0) writeSync(recordsFd, pendingOut);
  result.contentDigest = `sha256:${digest.digest('hex')}`;
  return result;
}

/** Linux dev_t encoding (glibc gnu_dev_major/minor). */
function deviceNumbers(rdev: number): string {
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  return `${major}:${minor >>> 0}`;
}

/**
 * Opaque directories of a layer, from the layerdb's `tar-split.json.gz` (Docker's record of the
 * layer tar): overlay2 keeps opacity in the `trusted.overlay.opaque` xattr, which Node cannot
 * read, while the tar names each opaque directory with a `.wh..wh..opq` entry. Returns
 * `/dir` paths; an empty set when the file is missing.
 */
export async function readOpaqueDirs(tarSplitFile: string): Promise<Set<string>> {
  const dirs = new Set<string>();
  let st: Stats;
  try {
    st = lstatSync(tarSplitFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return dirs;
    throw err;
  }
  const addLine = (line: string) => {
    if (!line.includes(OPAQUE_MARKER)) return;
    // tar-split lines: type 1 = a file entry (with its name), type 2 = raw header bytes.
    const entry = JSON.parse(line) as { type?: number; name?: string };
    if (entry.type !== 1 || typeof entry.name !== 'string') return;
    const name = entry.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    if (name.endsWith(`/${OPAQUE_MARKER}`)) dirs.add(`/${name.slice(0, -OPAQUE_MARKER.length - 1)}`);
  };
  if (st.size <= SMALL_TAR_SPLIT_BYTES) {
    // Most layers' tar-splits are a few KiB: a stream, a gunzip stream and a line reader per
    // layer cost more than the inflate itself, thousands of times over on a first pass.
    const text = gunzipSync(readFileSync(tarSplitFile)).toString('utf8');
    for (const line of text.split('\n')) addLine(line);
    return dirs;
  }
  const input = createReadStream(tarSplitFile);
  const gunzip = createGunzip();
  input.on('error', (err) => gunzip.destroy(err));
  const lines = createInterface({ input: input.pipe(gunzip), crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) addLine(line);
  } finally {
    input.destroy();
  }
  return dirs;
}
