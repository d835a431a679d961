/**
 * One entry of a layer's content list, in the order and form its content digest covers.
 *
 *   f  regular file: size = st_size, payload = sha256 of the content
 *   h  another path of a hard-linked inode already listed in this layer: size = st_size,
 *      payload = the first path (in sort order) of that inode; its bytes count once, there
 *   d  directory: payload `opaque` when it hides everything lower layers have below it
 *   l  symlink: payload = the link target
 *   c / b  character / block device: payload = `major:minor`
 *   p / s  fifo / socket
 *   w  whiteout: the path is deleted from lower layers (overlay2 stores it as a 0:0 char device)
 *
 * mode is the permission bits (st_mode & 07777; 0 for whiteouts); mtime, uid and gid are left
 * out on purpose: the same files built at another time or by another user are the same content.
 */
export type EntryType = 'f' | 'h' | 'd' | 'l' | 'c' | 'b' | 'p' | 's' | 'w';

export interface LayerEntry {
  path: string;
  type: EntryType;
  mode: number;
  size: number;
  payload: string;
}

/** One line of a records file: exactly the bytes the content digest is computed over. */
export function encodeEntry(e: LayerEntry): string {
  return `${JSON.stringify([e.path, e.type, e.mode, e.size, e.payload])}\n`;
}

const TYPES = new Set(['f', 'h', 'd', 'l', 'c', 'b', 'p', 's', 'w']);

export function decodeEntry(line: string): LayerEntry {
  const v = JSON.parse(line) as unknown;
  if (
    !Array.isArray(v) ||
    v.length !== 5 ||
    typeof v[0] !== 'string' ||
    !TYPES.has(v[1]) ||
    typeof v[2] !== 'number' ||
    typeof v[3] !== 'number' ||
    typeof v[4] !== 'string'
  ) {
    throw new Error(`not a layer record: ${line.slice(0, 120)}`);
  }
  return { path: v[0], type: v[1] as EntryType, mode: v[2], size: v[3], payload: v[4] };
}

/**
 * Tree order: a directory, then everything below it, then its next sibling. Comparing with
 * `/` mapped below every other character gives exactly a pre-order walk with siblings sorted
 * by name, so a walk can emit records already sorted and a merge of several layers sees each
 * subtree contiguously (`a`, `a/x`, `a.b`, never `a`, `a.b`, `a/x`).
 */
export function comparePaths(a: string, b: string): number {
  const ka = a.replaceAll('/', '\u0000');
  const kb = b.replaceAll('/', '\u0000');
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when `ancestor` is a proper ancestor directory of `p` (both absolute, `/a/b` form). */
export function isAncestor(ancestor: string, p: string): boolean {
  return p.length > ancestor.length && p.startsWith(ancestor) && p.charCodeAt(ancestor.length) === 47;
}

/**
 * File names are bytes; names that are not valid UTF-8 keep each invalid byte as `\x{hh}`
 * so no two names collide and the record stays JSON.
 */
export function nameToString(name: Buffer): string {
  const text = name.toString('utf8');
  if (Buffer.byteLength(text) === name.length && !text.includes('\uFFFD')) return text;
  let out = '';
  let i = 0;
  while (i < name.length) {
    const byte = name[i] as number;
    const len = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 0;
    const chunk = len > 0 ? name.subarray(i, i + len) : null;
    const decoded = chunk && chunk.length === len ? chunk.toString('utf8') : null;
    if (decoded && !decoded.includes('\uFFFD') && Buffer.byteLength(decoded) === len) {
      out += decoded;
      i += len;
    } else {
      out += `\\x{${byte.toString(16).padStart(2, '0')}}`;
      i += 1;
    }
  }
  return out;
}
