import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  type AgentMessage,
  applyInventoryDelta,
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

/**
 * The tip file is rewritten (a checkpoint) at least every this many frames. Between
 * checkpoints the frames after it stay on disk, acked or not, and a restart rebuilds the tip
 * from them: a reading costs its delta on disk, not its whole inventory (megabytes on a
 * large host, every interval).
 */
export const CHECKPOINT_FRAMES = 60;
/** ... or once the frames after it add up to half the tip's size, whichever comes first. */
const CHECKPOINT_MIN_BYTES = 64 * 1024;

export const SPOOL_DIR = 'spool';
const META_FILE = 'meta.json';
const TIP_FILE = 'tip.json';
const FRAME_FILE = /^(\d{16})\.json$/;

const seq = z.int().check(z.nonnegative(), z.lte(Number.MAX_SAFE_INTEGER));
const ZMeta = z.object({
  version: z.literal(1),
  stream: z.string().check(z.regex(/^[A-Za-z0-9_-]{8,64}$/)),
  lastSeq: seq,
  /** The highest seq the server had acked when the meta was written; frames up to it are not sent again. */
  acked: z.optional(seq),
});
const ZTip = z.object({ seq, inventory: ZInventory });
type Tip = z.infer<typeof ZTip>;
type SpooledMessage = Extract<AgentMessage, { type: 'snapshot' | 'delta' }>;

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

type Chosen = { type: 'snapshot' | 'delta'; text: string | readonly string[]; bytes: number };

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
  writeMeta(stream: string, lastSeq: number, acked: number): Promise<void>;
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
  writeMeta(stream: string, lastSeq: number, acked: number): Promise<void> {
    return writeFileAtomic(
      path.join(this.dir, META_FILE),
      JSON.stringify({ version: 1, stream, lastSeq, acked }),
      0o600,
    );
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
 * On disk the tip is a checkpoint (`tip.json`) and the frames after it, which stay past their
 * ack until the next checkpoint; opening the spool applies them to the checkpoint. A reading
 * therefore writes its own frame, and the whole inventory only every CHECKPOINT_FRAMES frames
 * or with a snapshot.
 *
 * The backlog is bounded: past `maxFrames` or `maxBytes` it is replaced by one full snapshot,
 * so an unreachable server costs the lost samples, never unbounded disk or memory.
 */
export class Spool {
  /** Unacked frames, oldest first: what is sent. */
  private index: IndexEntry[] = [];
  private bytes = 0;
  private tip: Tip | null = null;
  /** The seq of the checkpoint on disk; 0 when there is none. */
  private checkpointSeq = 0;
  /** Frames newer than the checkpoint, acked or not: what a restart applies to it. */
  private sinceCheckpoint = { frames: 0, bytes: 0 };
  /** Acked frames newer than the checkpoint, deleted at the next one. */
  private kept: number[] = [];
  /** The highest seq of this stream the server acked. */
  private acked = 0;
  /** Bytes of the tip's snapshot frame when it was last encoded: what a delta is weighed against. */
  private snapshotBytes: number | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private backend: Backend,
    private streamId: string,
    private lastSeq: number,
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
    if (stateDir === null) return new Spool(new MemoryBackend(), newStream(), 0, bounds, log);
    const dir = path.join(stateDir, SPOOL_DIR);
    try {
      return await Spool.load(dir, log, bounds);
    } catch (err) {
      log.warn('cannot use the spool directory; unacked readings are kept in memory and lost on restart', {
        dir,
        error: errorMessage(err),
      });
      return new Spool(new MemoryBackend(), newStream(), 0, bounds, log);
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
      const fresh = new Spool(new DiskBackend(dir), newStream(), 0, limits, log);
      await fresh.backend.writeMeta(fresh.streamId, 0, 0);
      return fresh;
    }

    const spool = new Spool(new DiskBackend(dir), meta.stream, meta.lastSeq, limits, log);
    spool.acked = meta.acked ?? 0;
    try {
      const text = await readFile(path.join(dir, TIP_FILE), 'utf8');
      spool.tip = ZTip.parse(JSON.parse(text));
      spool.checkpointSeq = spool.tip.seq;
      spool.snapshotBytes = Buffer.byteLength(text);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        log.warn('the spool tip is unreadable; it is rebuilt from a spooled snapshot, else the next reading is one', {
          dir,
          error: errorMessage(err),
        });
      }
    }

    for (const n of frameSeqs) {
      const file = path.join(dir, frameName(n));
      const checked = await spool.checkFrameFile(file, n);
      if (!checked.ok) {
        log.warn('dropping a spooled frame', { file, reason: checked.reason });
        await rm(file, { force: true });
        // The tip cannot be followed past a frame that is gone.
        if (n > spool.checkpointSeq) spool.tip = null;
        continue;
      }
      if (n > spool.checkpointSeq) {
        spool.follow(checked.message, checked.bytes);
        spool.sinceCheckpoint.frames += 1;
        spool.sinceCheckpoint.bytes += checked.bytes;
      }
      if (n > spool.acked) {
        spool.index.push({ seq: n, type: checked.message.type, bytes: checked.bytes });
        spool.bytes += checked.bytes;
      } else if (n > spool.checkpointSeq) {
        spool.kept.push(n);
      } else {
        // Acked and older than the checkpoint: a deletion a crash cut short.
        await rm(file, { force: true });
      }
    }
    // A seq is never reused, whichever of frame, tip and meta a crash left newest.
    spool.lastSeq = Math.max(meta.lastSeq, spool.checkpointSeq, frameSeqs.at(-1) ?? 0);
    await spool.backend.writeMeta(spool.streamId, spool.lastSeq, spool.acked);
    return spool;
  }

  /**
   * Moves the tip on to a spooled frame newer than it, as the server applies it. A delta that is
   * not on the tip, or does not apply, leaves no tip: the next reading is a full snapshot.
   */
  private follow(m: SpooledMessage, bytes: number): void {
    if (m.type === 'snapshot') {
      this.tip = { seq: m.seq, inventory: m.inventory };
      this.snapshotBytes = bytes;
      return;
    }
    const applied = this.tip && m.baseSeq === this.tip.seq ? applyInventoryDelta(this.tip.inventory, m.delta) : null;
    this.tip = applied?.ok ? { seq: m.seq, inventory: applied.inventory } : null;
  }

  /** What a frame file holds, or why it cannot be sent as it is. */
  private async checkFrameFile(
    file: string,
    n: number,
  ): Promise<{ ok: true; message: SpooledMessage; bytes: number } | { ok: false; reason: string }> {
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
    return { ok: true, message: m, bytes: Buffer.byteLength(text) };
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
          await this.removeFrames(1, 'dropped');
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
      if (count === 0) return 0;
      this.acked = Math.max(this.acked, this.index[count - 1]?.seq ?? 0);
      await this.removeFrames(count, 'acked');
      // Recorded, so a restart does not send them again (a lost write only means a re-send the server dedupes).
      await this.backend.writeMeta(this.streamId, this.lastSeq, this.acked).catch((err) => {
        this.log.warn('cannot record an ack in the spool meta file', { error: errorMessage(err) });
      });
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
        await this.removeFrames(dropped, 'dropped');
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
      this.checkpointSeq = 0;
      this.sinceCheckpoint = { frames: 0, bytes: 0 };
      this.kept = [];
      this.snapshotBytes = null;
      return fn();
    }
  }

  private async appendReading(inventory: Inventory, full: boolean): Promise<AppendResult> {
    const next = this.lastSeq + 1;
    // The whole inventory is encoded only when a snapshot frame, a checkpoint or the weighing of
    // a large delta needs it, and once: on a large host that is megabytes less per reading. Its
    // text is never joined in memory; the parts make exactly encodeMessage's text (same keys,
    // same order).
    let encoded: { json: string; frame: string[]; bytes: number } | undefined;
    const snapshot = () => {
      if (!encoded) {
        const json = JSON.stringify(inventory);
        const frame = [
          `{"v":${PROTOCOL_VERSION},"type":"snapshot","stream":${JSON.stringify(this.streamId)},"seq":${next},"inventory":`,
          json,
          '}',
        ];
        encoded = { json, frame, bytes: frame.reduce((n, part) => n + Buffer.byteLength(part), 0) };
      }
      return encoded;
    };
    const asSnapshot = (): Chosen => ({ type: 'snapshot', text: snapshot().frame, bytes: snapshot().bytes });

    let chosen: Chosen | null = null;
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
      // A delta that rewrites most of the inventory saves little and costs the server a merge:
      // one over half the snapshot is replaced by it. A delta under a quarter of the tip's last
      // snapshot is taken without encoding this one (an inventory does not halve in a reading).
      const small = this.snapshotBytes !== null && deltaBytes <= this.snapshotBytes / 4;
      const whole = small ? null : snapshot().bytes;
      if (
        (small && deltaBytes <= MAX_FRAME_BYTES) ||
        (whole !== null && (deltaBytes <= whole / 2 || (whole > MAX_FRAME_BYTES && deltaBytes <= MAX_FRAME_BYTES)))
      ) {
        chosen = { type: 'delta', text: delta, bytes: deltaBytes };
      }
    }
    chosen ??= asSnapshot();
    let overflow = false;
    if (!full && (this.index.length + 1 > this.limits.maxFrames || this.bytes + chosen.bytes > this.limits.maxBytes)) {
      overflow = true;
      if (chosen.type === 'delta') chosen = asSnapshot();
    }
    if (chosen.bytes > MAX_FRAME_BYTES) throw new FrameTooLargeError(chosen.bytes);

    // A snapshot is always a checkpoint, so the tip never has to be rebuilt across one.
    const checkpoint =
      this.backend.dir !== null &&
      (chosen.type === 'snapshot' ||
        this.sinceCheckpoint.frames + 1 >= CHECKPOINT_FRAMES ||
        this.sinceCheckpoint.bytes + chosen.bytes > Math.max(CHECKPOINT_MIN_BYTES, (this.snapshotBytes ?? 0) / 2));

    // Frame first, then the checkpoint, then the seq: a crash in between leaves a frame the next
    // open applies to the older checkpoint, never a checkpoint without its frame.
    await this.backend.writeFrame(next, chosen.text);
    if (checkpoint) await this.backend.writeTip(next, snapshot().json);
    await this.backend.writeMeta(this.streamId, next, this.acked);
    this.lastSeq = next;
    this.tip = { seq: next, inventory };
    if (checkpoint || chosen.type === 'snapshot') this.snapshotBytes = snapshot().bytes;
    if (checkpoint) {
      this.checkpointSeq = next;
      this.sinceCheckpoint = { frames: 0, bytes: 0 };
      for (const n of this.kept.splice(0)) await this.deleteFrame(n);
    } else {
      this.sinceCheckpoint.frames += 1;
      this.sinceCheckpoint.bytes += chosen.bytes;
    }
    const dropped = full || overflow ? this.index.length : 0;
    await this.removeFrames(dropped, 'dropped');
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

  /**
   * Takes the oldest `count` frames out of the backlog. An acked frame newer than the checkpoint
   * stays on disk until the next one (a restart rebuilds the tip from it); any other is deleted.
   */
  private async removeFrames(count: number, why: 'acked' | 'dropped'): Promise<void> {
    const gone = this.index.splice(0, count);
    for (const entry of gone) {
      this.bytes -= entry.bytes;
      if (why === 'acked' && this.backend.dir !== null && entry.seq > this.checkpointSeq) this.kept.push(entry.seq);
      else await this.deleteFrame(entry.seq);
    }
  }

  /** A file that cannot be deleted is only re-sent later and deduped, or applied again in order. */
  private async deleteFrame(n: number): Promise<void> {
    try {
      await this.backend.deleteFrame(n);
    } catch (err) {
      this.log.warn('cannot delete a spooled frame', { seq: n, error: errorMessage(err) });
    }
  }
}
