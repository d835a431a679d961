import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  diffInventories,
  encodeMessage,
  type Inventory,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
  ZInventory,
} from '@ballast/shared';
import * as z from '@ballast/shared/zod';
import { writeFileAtomic } from '../jobs/daemon-config.js';
import { errorMessage, type Logger } from '../log.js';

/** Unacked frames kept at most: a day of readings at the default 60-second interval. */
export const DEFAULT_SPOOL_MAX_FRAMES = 1440;
/** Bytes of unacked frames kept at most (the encoded frame texts). */
export const DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024;

export const SPOOL_DIR = 'spool';
const META_FILE = 'meta.json';
const TIP_FILE = 'tip.json';
const FRAME_FILE = /^(\d{16})\.json$/;

const seq = z.int().check(z.nonnegative(), z.lte(Number.MAX_SAFE_INTEGER));
const ZMeta = z.object({
  version: z.literal(1),
  stream: z.string().check(z.regex(/^[A-Za-z0-9_-]{8,64}$/)),
  lastSeq: seq,
});
const ZTip = z.object({ seq, inventory: ZInventory });
type Tip = z.infer<typeof ZTip>;

export interface SpoolLimits {
  maxFrames: number;
  maxBytes: number;
}

export interface SpooledFrame {
  seq: number;
  type: 'snapshot' | 'delta';
  /** The encoded frame, exactly as it is sent (and re-sent). */
  text: string;
}

export interface AppendResult {
  seq: number;
  type: 'snapshot' | 'delta';
  bytes: number;
  /** Unacked frames dropped to stay within the bounds (their readings are lost). */
  dropped: number;
}

/** A reading whose frame exceeds MAX_FRAME_BYTES: it cannot be sent, so it is not spooled. */
export class FrameTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(`the encoded frame is ${bytes} bytes, over the ${MAX_FRAME_BYTES}-byte frame limit`);
  }
}

interface IndexEntry {
  seq: number;
  type: 'snapshot' | 'delta';
  bytes: number;
}

/** Where frames live: files in the spool directory, or (without a writable one) this process's memory. */
interface Backend {
  readonly dir: string | null;
  /** `text` may come in parts (a snapshot around its inventory's JSON), written one after another. */
  writeFrame(seq: number, text: string | readonly string[]): Promise<void>;
  readFrame(seq: number): Promise<string>;
  deleteFrame(seq: number): Promise<void>;
  /** The tip file, `{"seq":…,"inventory":…}`, from its inventory's JSON. */
  writeTip(seq: number, inventoryJson: string): Promise<void>;
  writeMeta(stream: string, lastSeq: number): Promise<void>;
}

const frameName = (n: number) => `${String(n).padStart(16, '0')}.json`;

class DiskBackend implements Backend {
  constructor(readonly dir: string) {}
  writeFrame(n: number, text: string | readonly string[]): Promise<void> {
    return writeFileAtomic(path.join(this.dir, frameName(n)), text, 0o600);
  }
  readFrame(n: number): Promise<string> {
    return readFile(path.join(this.dir, frameName(n)), 'utf8');
  }
  deleteFrame(n: number): Promise<void> {
    // No directory fsync: a deletion lost to a crash only re-sends a frame the server dedupes.
    return rm(path.join(this.dir, frameName(n)), { force: true });
  }
  writeTip(seq: number, inventoryJson: string): Promise<void> {
    return writeFileAtomic(path.join(this.dir, TIP_FILE), [`{"seq":${seq},"inventory":`, inventoryJson, '}'], 0o600);
  }
  writeMeta(stream: string, lastSeq: number): Promise<void> {
    return writeFileAtomic(path.join(this.dir, META_FILE), JSON.stringify({ version: 1, stream, lastSeq }), 0o600);
  }
}

class MemoryBackend implements Backend {
  readonly dir = null;
  private readonly frames = new Map<number, string>();
  async writeFrame(n: number, text: string | readonly string[]): Promise<void> {
    this.frames.set(n, typeof text === 'string' ? text : text.join(''));
  }
  async readFrame(n: number): Promise<string> {
    const text = this.frames.get(n);
    if (text === undefined) throw new Error(`frame ${n} is not in memory`);
    return text;
  }
  async deleteFrame(n: number): Promise<void> {
    this.frames.delete(n);
  }
  async writeTip(): Promise<void> {}
  async writeMeta(): Promise<void> {}
}

function newStream(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * The agent's outbox of readings. Each reading becomes one frame on a stream: a full snapshot
 * when there is no base the server is known to build on, otherwise a delta on the previous
 * reading (the tip). Frames stay until the server acks them, in `<stateDir>/spool/` (one file
 * per frame, each replaced crash-safely), so unacked readings survive reconnects and restarts
 * and seqs only grow. Only the tip and the frame being sent are held in memory.
 *
 * The backlog is bounded: past `maxFrames` or `maxBytes` it is replaced by one full snapshot,
 * so an unreachable server costs the lost samples, never unbounded disk or memory.
 */
export class Spool {
  private index: IndexEntry[] = [];
  private bytes = 0;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private backend: Backend,
    private streamId: string,
    private lastSeq: number,
    private tip: Tip | null,
    private readonly limits: SpoolLimits,
    private readonly log: Logger,
  ) {}

  /**
   * Opens the spool in `<stateDir>/spool/`, or in memory when `stateDir` is null or cannot be
   * written (a new stream for this process, said once in a warning).
   */
  static async open(stateDir: string | null, log: Logger, limits: Partial<SpoolLimits> = {}): Promise<Spool> {
    const bounds: SpoolLimits = {
      maxFrames: limits.maxFrames ?? DEFAULT_SPOOL_MAX_FRAMES,
      maxBytes: limits.maxBytes ?? DEFAULT_SPOOL_MAX_BYTES,
    };
    if (stateDir === null) return new Spool(new MemoryBackend(), newStream(), 0, null, bounds, log);
    const dir = path.join(stateDir, SPOOL_DIR);
    try {
      return await Spool.load(dir, log, bounds);
    } catch (err) {
      log.warn('cannot use the spool directory; unacked readings are kept in memory and lost on restart', {
        dir,
        error: errorMessage(err),
      });
      return new Spool(new MemoryBackend(), newStream(), 0, null, bounds, log);
    }
  }

  private static async load(dir: string, log: Logger, limits: SpoolLimits): Promise<Spool> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const names = await readdir(dir);
    for (const name of names) {
      // Left by a write that a crash interrupted before its rename.
      if (name.startsWith('.') && name.endsWith('.tmp')) await rm(path.join(dir, name), { force: true });
    }

    let meta: z.infer<typeof ZMeta> | null = null;
    try {
      meta = ZMeta.parse(JSON.parse(await readFile(path.join(dir, META_FILE), 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        log.warn('the spool meta file is unreadable; starting a new stream', { dir, error: errorMessage(err) });
      }
    }
    const frameSeqs = names
      .map((n) => FRAME_FILE.exec(n)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);

    if (!meta) {
      // Frames and tip of an unknown stream cannot be sent on a new one.
      for (const n of frameSeqs) await rm(path.join(dir, frameName(n)), { force: true });
      await rm(path.join(dir, TIP_FILE), { force: true });
      const fresh = new Spool(new DiskBackend(dir), newStream(), 0, null, limits, log);
      await fresh.backend.writeMeta(fresh.streamId, 0);
      return fresh;
    }

    let tip: Tip | null = null;
    try {
      tip = ZTip.parse(JSON.parse(await readFile(path.join(dir, TIP_FILE), 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        log.warn('the spool tip is unreadable; the next reading is sent as a full snapshot', {
          dir,
          error: errorMessage(err),
        });
      }
    }

    const spool = new Spool(new DiskBackend(dir), meta.stream, meta.lastSeq, tip, limits, log);
    for (const n of frameSeqs) {
      const file = path.join(dir, frameName(n));
      const checked = await spool.checkFrameFile(file, n, tip);
      if (!checked.ok) {
        log.warn('dropping a spooled frame', { file, reason: checked.reason });
        await rm(file, { force: true });
        continue;
      }
      spool.index.push({ seq: n, type: checked.type, bytes: checked.bytes });
      spool.bytes += checked.bytes;
    }
    // A seq is never reused, whichever of frame, tip and meta a crash left newest.
    spool.lastSeq = Math.max(meta.lastSeq, tip?.seq ?? 0, spool.index.at(-1)?.seq ?? 0);
    await spool.backend.writeMeta(spool.streamId, spool.lastSeq);
    return spool;
  }

  /** What a frame file holds, or why it cannot be sent as it is. */
  private async checkFrameFile(
    file: string,
    n: number,
    tip: Tip | null,
  ): Promise<{ ok: true; type: 'snapshot' | 'delta'; bytes: number } | { ok: false; reason: string }> {
    // Written before its tip, by an append a crash cut short: it never left, and the tip is older.
    if (tip && n > tip.seq) return { ok: false, reason: `newer than the tip (${tip.seq}): its append did not finish` };
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      return { ok: false, reason: errorMessage(err) };
    }
    const parsed = parseAgentMessage(text);
    if (!parsed.ok) return { ok: false, reason: parsed.message };
    const m = parsed.message;
    if (m.type !== 'snapshot' && m.type !== 'delta') return { ok: false, reason: `a ${m.type} frame` };
    if (m.stream !== this.streamId) return { ok: false, reason: 'another stream' };
    if (m.seq !== n) return { ok: false, reason: `its seq is ${m.seq}` };
    return { ok: true, type: m.type, bytes: Buffer.byteLength(text) };
  }

  get stream(): string {
    return this.streamId;
  }

  /** The spool directory, or null when frames are kept in memory. */
  get dir(): string | null {
    return this.backend.dir;
  }

  /** Unacked frames and their encoded bytes. */
  get backlog(): { frames: number; bytes: number } {
    return { frames: this.index.length, bytes: this.bytes };
  }

  /** The seq of the newest frame, and the base of the next delta. */
  get tipSeq(): number | null {
    return this.tip?.seq ?? null;
  }

  /** Turns a reading into the next frame and spools it. */
  append(inventory: Inventory): Promise<AppendResult> {
    return this.exclusive(() => this.guarded(() => this.appendReading(inventory, false)));
  }

  /** The oldest unacked frame, read back from the spool; null when everything is acked. */
  oldest(): Promise<SpooledFrame | null> {
    return this.exclusive(async () => {
      for (let entry = this.index[0]; entry; entry = this.index[0]) {
        try {
          return { seq: entry.seq, type: entry.type, text: await this.backend.readFrame(entry.seq) };
        } catch (err) {
          this.log.warn('a spooled frame cannot be read; dropping it', { seq: entry.seq, error: errorMessage(err) });
          await this.removeFrames(1);
        }
      }
      return null;
    });
  }

  /** The server stored every frame up to `upTo`: removes them. Returns how many were removed. */
  ack(upTo: number): Promise<number> {
    return this.exclusive(async () => {
      let count = 0;
      while (count < this.index.length && (this.index[count]?.seq ?? Number.POSITIVE_INFINITY) <= upTo) count += 1;
      await this.removeFrames(count);
      return count;
    });
  }

  /**
   * The server cannot build on what it was sent: every unacked frame goes, and the tip is
   * spooled again as a full snapshot with a new seq. Null when there is no tip to send (the
   * next reading is then a full snapshot).
   */
  resync(): Promise<AppendResult | null> {
    return this.exclusive(async () => {
      const inventory = this.tip?.inventory;
      if (!inventory) {
        const dropped = this.index.length;
        await this.removeFrames(dropped);
        if (dropped > 0) this.log.warn('resync: unacked readings dropped; their samples are lost', { dropped });
        return null;
      }
      const result = await this.guarded(() => this.appendReading(inventory, true));
      if (result.dropped > 0) {
        this.log.warn('resync: unacked readings dropped; their samples are lost', { dropped: result.dropped });
      }
      return result;
    });
  }

  /** Resolves once every operation started so far has finished. */
  async drain(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs a write; when the spool directory fails under it (full disk, read-only remount), the
   * spool carries on in memory on a new stream, so readings keep flowing: a stream on disk that
   * stopped short must not be continued with seqs the disk does not record.
   */
  private async guarded<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FrameTooLargeError || this.backend.dir === null) throw err;
      this.log.warn('cannot write the spool directory; unacked readings are kept in memory from now on', {
        dir: this.backend.dir,
        error: errorMessage(err),
        dropped: this.index.length,
      });
      this.backend = new MemoryBackend();
      this.streamId = newStream();
      // Seqs keep growing: an answer still on its way for the old stream's frame must never
      // match a frame of the new one.
      this.index = [];
      this.bytes = 0;
      this.tip = null;
      return fn();
    }
  }

  private async appendReading(inventory: Inventory, full: boolean): Promise<AppendResult> {
    const next = this.lastSeq + 1;
    // The inventory is encoded once, for the snapshot frame and the tip alike, and neither text
    // is ever joined in memory: on a large host that is megabytes less per reading. The parts
    // make exactly encodeMessage's text (same keys, same order).
    const inventoryJson = JSON.stringify(inventory);
    const snapshot = [
      `{"v":${PROTOCOL_VERSION},"type":"snapshot","stream":${JSON.stringify(this.streamId)},"seq":${next},"inventory":`,
      inventoryJson,
      '}',
    ];
    const snapshotBytes = snapshot.reduce((n, part) => n + Buffer.byteLength(part), 0);
    let chosen: { type: 'snapshot' | 'delta'; text: string | readonly string[]; bytes: number } = {
      type: 'snapshot',
      text: snapshot,
      bytes: snapshotBytes,
    };
    if (this.tip && !full) {
      const delta = encodeMessage({
        v: PROTOCOL_VERSION,
        type: 'delta',
        stream: this.streamId,
        seq: next,
        baseSeq: this.tip.seq,
        delta: diffInventories(this.tip.inventory, inventory),
      });
      const deltaBytes = Buffer.byteLength(delta);
      // A delta that rewrites most of the inventory saves little and costs the server a merge.
      if (deltaBytes <= snapshotBytes / 2 || (snapshotBytes > MAX_FRAME_BYTES && deltaBytes <= MAX_FRAME_BYTES)) {
        chosen = { type: 'delta', text: delta, bytes: deltaBytes };
      }
    }
    let overflow = false;
    if (!full && (this.index.length + 1 > this.limits.maxFrames || this.bytes + chosen.bytes > this.limits.maxBytes)) {
      overflow = true;
      if (chosen.type === 'delta') chosen = { type: 'snapshot', text: snapshot, bytes: snapshotBytes };
    }
    if (chosen.bytes > MAX_FRAME_BYTES) throw new FrameTooLargeError(chosen.bytes);

    // Frame first, then the tip, then the seq: a crash in between leaves a frame the next open
    // recognises as unfinished, never a tip without its frame.
    await this.backend.writeFrame(next, chosen.text);
    await this.backend.writeTip(next, inventoryJson);
    const tip = { seq: next, inventory };
    await this.backend.writeMeta(this.streamId, next);
    this.lastSeq = next;
    this.tip = tip;
    const dropped = full || overflow ? this.index.length : 0;
    await this.removeFrames(dropped);
    if (overflow) {
      this.log.warn('spool full: unacked readings dropped and replaced by one full snapshot; their samples are lost', {
        dropped,
        maxFrames: this.limits.maxFrames,
        maxBytes: this.limits.maxBytes,
      });
    }
    this.index.push({ seq: next, type: chosen.type, bytes: chosen.bytes });
    this.bytes += chosen.bytes;
    return { seq: next, type: chosen.type, bytes: chosen.bytes, dropped };
  }

  /** Removes the oldest `count` frames; a file that cannot be deleted is only re-sent later and deduped. */
  private async removeFrames(count: number): Promise<void> {
    const gone = this.index.splice(0, count);
    for (const entry of gone) {
      this.bytes -= entry.bytes;
      try {
        await this.backend.deleteFrame(entry.seq);
      } catch (err) {
        this.log.warn('cannot delete a spooled frame', { seq: entry.seq, error: errorMessage(err) });
      }
    }
  }
}
