import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type AgentMessage,
  applyInventoryDelta,
  encodeMessage,
  type Inventory,
  inventoryByKey,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
} from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.js';
import { createLogger } from '../log.js';
import { CHECKPOINT_FRAMES, FrameTooLargeError, SPOOL_DIR, Spool } from './spool.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const d = await tempDir('spool');
  dirs.push(d);
  return d;
}

function logs() {
  const lines: string[] = [];
  const log = createLogger('debug', (l) => lines.push(l));
  const parsed = () => lines.map((l) => JSON.parse(l) as { level: string; msg: string } & Record<string, unknown>);
  return { log, parsed };
}

let clock = Date.parse('2026-03-01T00:00:00Z');
/** A reading a minute after the last one, with `volumes` volumes of `bytes` bytes each. */
function reading(volumes = 1, bytes = 1000): Inventory {
  clock += 60_000;
  const inv = makeSampleInventory({ collectedAt: new Date(clock) });
  const template = inv.volumes[0] as Inventory['volumes'][number];
  inv.volumes = Array.from({ length: volumes }, (_, i) => ({ ...template, name: `vol-${i}`, sizeBytes: bytes }));
  return inv;
}

function parse(text: string): AgentMessage {
  const parsed = parseAgentMessage(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.message;
}

const frameFiles = async (dir: string) =>
  (await readdir(path.join(dir, SPOOL_DIR))).filter((n) => /^\d+\.json$/.test(n));
const fileName = (seq: number) => `${String(seq).padStart(16, '0')}.json`;
const mode = async (p: string) => (await stat(p)).mode & 0o777;

/** What a server holds after storing these frames in order, as the protocol says it applies them. */
function replay(texts: string[]): Inventory {
  let state: { seq: number; inventory: Inventory } | null = null;
  for (const text of texts) {
    const m = parse(text);
    if (m.type === 'snapshot') state = { seq: m.seq, inventory: m.inventory };
    else if (m.type === 'delta') {
      if (!state || state.seq !== m.baseSeq) throw new Error(`delta ${m.seq} does not apply on ${state?.seq}`);
      const applied = applyInventoryDelta(state.inventory, m.delta);
      if (!applied.ok) throw new Error(applied.reason);
      state = { seq: m.seq, inventory: applied.inventory };
    }
  }
  if (!state) throw new Error('nothing stored');
  return state.inventory;
}

/** Sends and acks every spooled frame, oldest first; returns the texts in order. */
async function drain(spool: Spool): Promise<string[]> {
  const sent: string[] = [];
  for (let frame = await spool.oldest(); frame; frame = await spool.oldest()) {
    sent.push(frame.text);
    await spool.ack(frame.seq);
  }
  return sent;
}

describe('Spool on disk', () => {
  it('spools a snapshot then deltas on the tip, in private files; acks remove them, but the frames after the checkpoint', async () => {
    const dir = await stateDir();
    const spool = await Spool.open(dir, logs().log);
    const first = reading(2);
    const second = reading(3);
    const third = reading(3, 2000);
    const a = await spool.append(first);
    const b = await spool.append(second);
    const c = await spool.append(third);
    expect([a.type, b.type, c.type]).toEqual(['snapshot', 'delta', 'delta']);
    expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 3]);
    expect(await frameFiles(dir)).toEqual([fileName(1), fileName(2), fileName(3)]);
    expect(spool.backlog).toEqual({ frames: 3, bytes: a.bytes + b.bytes + c.bytes });

    // The files hold exactly the frames, with their sizes as counted.
    const spoolDir = path.join(dir, SPOOL_DIR);
    expect(await mode(spoolDir)).toBe(0o700);
    for (const name of ['meta.json', 'tip.json', fileName(1), fileName(2), fileName(3)]) {
      expect(await mode(path.join(spoolDir, name))).toBe(0o600);
    }
    expect((await stat(path.join(spoolDir, fileName(2)))).size).toBe(b.bytes);
    const meta = JSON.parse(await readFile(path.join(spoolDir, 'meta.json'), 'utf8'));
    expect(meta).toEqual({ version: 1, stream: spool.stream, lastSeq: 3, acked: 0 });
    // The checkpoint is the snapshot's reading; the deltas did not rewrite it. Written in parts
    // around the inventory's JSON, the texts are exactly the encoded objects.
    const tip = await readFile(path.join(spoolDir, 'tip.json'), 'utf8');
    expect(tip).toBe(JSON.stringify({ seq: 1, inventory: first }));

    const texts = await Promise.all([1, 2, 3].map((n) => readFile(path.join(spoolDir, fileName(n)), 'utf8')));
    expect(texts[0]).toBe(
      encodeMessage({ v: PROTOCOL_VERSION, type: 'snapshot', stream: spool.stream, seq: 1, inventory: first }),
    );
    expect((await stat(path.join(spoolDir, fileName(1)))).size).toBe(a.bytes);
    const oldest = await spool.oldest();
    expect(oldest?.seq).toBe(1);
    expect(oldest?.text).toBe(texts[0]);
    expect(parse(texts[1] as string)).toMatchObject({ type: 'delta', stream: spool.stream, seq: 2, baseSeq: 1 });

    expect(await spool.ack(2)).toBe(2);
    // Frame 1 is the checkpoint's own; frame 2 stays, acked, until the next checkpoint.
    expect(await frameFiles(dir)).toEqual([fileName(2), fileName(3)]);
    expect(spool.backlog).toEqual({ frames: 1, bytes: c.bytes });
    expect((await spool.oldest())?.seq).toBe(3);

    // Frames 1..3 in order rebuild the latest reading.
    expect(inventoryByKey(replay(texts))).toEqual(inventoryByKey(third));
  });

  it('sends a reading that changed nothing but its time as a delta', async () => {
    const spool = await Spool.open(await stateDir(), logs().log);
    const first = reading(1);
    await spool.append(first);
    const same = { ...first, collectedAt: new Date(clock + 1000).toISOString() };
    const r = await spool.append(same);
    expect(r.type).toBe('delta');
    await spool.ack(1);
    const frame = parse((await spool.oldest())?.text as string);
    expect(frame.type === 'delta' && frame.delta).toEqual({ set: { collectedAt: same.collectedAt }, unset: [] });
  });

  it('sends a full snapshot when the delta would be more than half of it', async () => {
    const spool = await Spool.open(await stateDir(), logs().log);
    await spool.append(reading(50, 1));
    // Every volume changes size: the delta carries them all.
    const r = await spool.append(reading(50, 2));
    expect(r.type).toBe('snapshot');
    await spool.ack(1);
    const frame = parse((await spool.oldest())?.text as string);
    expect(frame).toMatchObject({ type: 'snapshot', seq: 2 });
  });

  it('refuses a reading whose frame exceeds the frame limit, leaving the tip as it was', async () => {
    const spool = await Spool.open(await stateDir(), logs().log);
    await spool.append(reading(1));
    const huge = reading(1);
    (huge.host.labels as Record<string, string>).big = 'x'.repeat(MAX_FRAME_BYTES);
    await expect(spool.append(huge)).rejects.toBeInstanceOf(FrameTooLargeError);
    expect(spool.tipSeq).toBe(1);
    expect(spool.backlog.frames).toBe(1);
    const next = await spool.append(reading(1));
    expect(next).toMatchObject({ seq: 2, type: 'delta' });
  });

  it('continues the stream after a restart: same stream, seqs go on, backlog and tip kept', async () => {
    const dir = await stateDir();
    const one = await Spool.open(dir, logs().log);
    await one.append(reading(1));
    await one.append(reading(2));
    const last = reading(3);
    await one.append(last);
    await one.ack(1);
    const stream = one.stream;

    const two = await Spool.open(dir, logs().log);
    expect(two.stream).toBe(stream);
    expect(two.tipSeq).toBe(3);
    expect(two.backlog.frames).toBe(2);
    const next = reading(4);
    const r = await two.append(next);
    expect(r).toMatchObject({ seq: 4, type: 'delta' });
    const sent = await drain(two);
    expect(sent.map((t) => parse(t))).toEqual([
      expect.objectContaining({ seq: 2 }),
      expect.objectContaining({ seq: 3 }),
      expect.objectContaining({ seq: 4, type: 'delta', baseSeq: 3, stream }),
    ]);
    expect(two.backlog).toEqual({ frames: 0, bytes: 0 });
  });

  it('rebuilds the tip after a restart from the checkpoint and the frames after it, and sends no acked frame again', async () => {
    const dir = await stateDir();
    const one = await Spool.open(dir, logs().log);
    const texts: string[] = [];
    for (let i = 1; i <= 5; i += 1) {
      await one.append(reading(i, i * 10));
      if (i < 5) texts.push(...(await drain(one)));
    }
    const two = await Spool.open(dir, logs().log);
    expect(two.tipSeq).toBe(5);
    // Only the unacked frame is sent again; the acked ones after the checkpoint are on disk for the tip.
    expect(two.backlog.frames).toBe(1);
    expect(await frameFiles(dir)).toEqual([2, 3, 4, 5].map(fileName));
    const latest = reading(7, 70);
    expect(await two.append(latest)).toMatchObject({ seq: 6, type: 'delta' });
    texts.push(...(await drain(two)));
    expect(texts.map((t) => (parse(t) as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5, 6]);
    // The delta on the rebuilt tip applies where the server holds the first five readings.
    expect(inventoryByKey(replay(texts))).toEqual(inventoryByKey(latest));
    const three = await Spool.open(dir, logs().log);
    expect(three.tipSeq).toBe(6);
    expect(three.backlog.frames).toBe(0);
  });

  it('writes the whole inventory only at a checkpoint: every CHECKPOINT_FRAMES frames, deleting the acked frames before it', async () => {
    const dir = await stateDir();
    const spoolDir = path.join(dir, SPOOL_DIR);
    const spool = await Spool.open(dir, logs().log);
    const tipSeq = async () => JSON.parse(await readFile(path.join(spoolDir, 'tip.json'), 'utf8')).seq as number;
    for (let i = 1; i <= CHECKPOINT_FRAMES; i += 1) {
      await spool.append(reading(2, i));
      await drain(spool);
    }
    // The snapshot (seq 1) is the checkpoint; the frames after it stay, acked.
    expect(await tipSeq()).toBe(1);
    expect(await frameFiles(dir)).toHaveLength(CHECKPOINT_FRAMES - 1);
    const next = CHECKPOINT_FRAMES + 1;
    expect(await spool.append(reading(2, 0))).toMatchObject({ seq: next, type: 'delta' });
    expect(await tipSeq()).toBe(next);
    expect(await frameFiles(dir)).toEqual([fileName(next)]);
    await drain(spool);
    expect(await frameFiles(dir)).toEqual([]);
    const again = await Spool.open(dir, logs().log);
    expect(again.tipSeq).toBe(next);
    expect(again.backlog.frames).toBe(0);
  });

  it('checkpoints sooner when the frames after it reach half the tip, so a restart reads at most half as much again', async () => {
    const dir = await stateDir();
    const spoolDir = path.join(dir, SPOOL_DIR);
    const spool = await Spool.open(dir, logs().log);
    const base = reading(1000, 1);
    let checkpoints = 0;
    let last = -1;
    for (let i = 0; i < 12; i += 1) {
      // A tenth of the volumes change each reading: deltas well under a quarter of the snapshot.
      const next = { ...base, volumes: base.volumes.map((v, j) => (j % 10 === i % 10 ? { ...v, sizeBytes: i } : v)) };
      expect((await spool.append(next)).type).toBe(i === 0 ? 'snapshot' : 'delta');
      await drain(spool);
      const tip = await readFile(path.join(spoolDir, 'tip.json'), 'utf8');
      const tipSeq = JSON.parse(tip).seq as number;
      if (tipSeq !== last) checkpoints += 1;
      last = tipSeq;
      let after = 0;
      for (const name of await frameFiles(dir)) {
        if (Number(name.slice(0, 16)) > tipSeq) after += (await stat(path.join(spoolDir, name))).size;
      }
      expect(after).toBeLessThanOrEqual(Math.max(64 * 1024, Buffer.byteLength(tip) / 2));
    }
    expect(checkpoints).toBeGreaterThan(2);
  });

  it('never reuses a seq, whatever a crash left newest', async () => {
    const dir = await stateDir();
    const one = await Spool.open(dir, logs().log);
    await one.append(reading(1));
    await one.append(reading(2));
    // A crash after the tip was written but before the meta.
    await writeFile(
      path.join(dir, SPOOL_DIR, 'meta.json'),
      JSON.stringify({ version: 1, stream: one.stream, lastSeq: 1 }),
    );
    const two = await Spool.open(dir, logs().log);
    expect((await two.append(reading(3))).seq).toBe(3);
  });

  it('keeps the frame of an append a crash cut short (before its meta), and deletes leftover temp files', async () => {
    const dir = await stateDir();
    const one = await Spool.open(dir, logs().log);
    await one.append(reading(1));
    const second = reading(2);
    await one.append(second);
    const spoolDir = path.join(dir, SPOOL_DIR);
    await writeFile(path.join(spoolDir, 'meta.json'), JSON.stringify({ version: 1, stream: one.stream, lastSeq: 1 }));
    await writeFile(path.join(spoolDir, `.${fileName(3)}.abcdef.tmp`), 'half a fra');
    const { log, parsed } = logs();
    const two = await Spool.open(dir, log);
    expect((await readdir(spoolDir)).sort()).toEqual([fileName(1), fileName(2), 'meta.json', 'tip.json']);
    expect(two.backlog.frames).toBe(2);
    expect(two.tipSeq).toBe(2);
    expect(parsed().filter((l) => l.level === 'warn')).toEqual([]);
    const latest = reading(3);
    expect(await two.append(latest)).toMatchObject({ seq: 3, type: 'delta' });
    expect(inventoryByKey(replay(await drain(two)))).toEqual(inventoryByKey(latest));
  });

  it('deletes a corrupt frame file and keeps the others', async () => {
    const dir = await stateDir();
    const one = await Spool.open(dir, logs().log);
    for (let i = 1; i <= 3; i += 1) await one.append(reading(i));
    await writeFile(path.join(dir, SPOOL_DIR, fileName(2)), '{"v":1,"type":"delta","stream":');
    const { log, parsed } = logs();
    const two = await Spool.open(dir, log);
    expect(await frameFiles(dir)).toEqual([fileName(1), fileName(3)]);
    expect(two.backlog.frames).toBe(2);
    expect(parsed().filter((l) => l.msg === 'dropping a spooled frame')).toHaveLength(1);
    // The tip cannot be followed across the missing delta: the next reading is a full snapshot.
    expect(two.tipSeq).toBeNull();
    expect((await drain(two)).map((t) => parse(t))).toEqual([
      expect.objectContaining({ seq: 1 }),
      expect.objectContaining({ seq: 3 }),
    ]);
  });

  it('starts a new stream when the meta file is unreadable, discarding the old stream', async () => {
    const dir = await stateDir();
    const one = await Spool.open(dir, logs().log);
    await one.append(reading(1));
    await one.append(reading(2));
    await writeFile(path.join(dir, SPOOL_DIR, 'meta.json'), 'not json');
    const { log, parsed } = logs();
    const two = await Spool.open(dir, log);
    expect(two.stream).not.toBe(one.stream);
    expect(two.backlog.frames).toBe(0);
    expect(await frameFiles(dir)).toEqual([]);
    expect(parsed()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'warn', msg: 'the spool meta file is unreadable; starting a new stream' }),
      ]),
    );
    const r = await two.append(reading(3));
    expect(r).toMatchObject({ seq: 1, type: 'snapshot' });
    expect(parse((await two.oldest())?.text as string)).toMatchObject({ stream: two.stream });
  });

  it('rebuilds an unreadable tip from a spooled snapshot, else sends a full snapshot next, keeping the backlog', async () => {
    const dir = await stateDir();
    const one = await Spool.open(dir, logs().log);
    await one.append(reading(1));
    await one.append(reading(2));
    await writeFile(path.join(dir, SPOOL_DIR, 'tip.json'), '{"seq":1,"inventory":{}}');
    const { log, parsed } = logs();
    const two = await Spool.open(dir, log);
    expect(two.stream).toBe(one.stream);
    expect(two.backlog.frames).toBe(2);
    expect(two.tipSeq).toBe(2);
    expect(parsed().some((l) => l.msg.startsWith('the spool tip is unreadable'))).toBe(true);

    // Once the snapshot is acked and gone, nothing is left to rebuild the tip from.
    const other = await stateDir();
    const four = await Spool.open(other, logs().log);
    await four.append(reading(1));
    expect(await four.ack(1)).toBe(1);
    await four.append(reading(2));
    await writeFile(path.join(other, SPOOL_DIR, 'tip.json'), 'not json');
    const five = await Spool.open(other, logs().log);
    expect(five.backlog.frames).toBe(1);
    expect(five.tipSeq).toBeNull();
    expect(await five.append(reading(3))).toMatchObject({ seq: 3, type: 'snapshot' });
  });

  it('resync drops the backlog and spools the tip as a full snapshot with a new seq', async () => {
    const dir = await stateDir();
    const { log, parsed } = logs();
    const spool = await Spool.open(dir, log);
    await spool.append(reading(1));
    await spool.ack(1);
    await spool.append(reading(2));
    const latest = reading(3);
    await spool.append(latest);
    const r = await spool.resync();
    expect(r).toMatchObject({ seq: 4, type: 'snapshot', dropped: 2 });
    expect(await frameFiles(dir)).toEqual([fileName(4)]);
    const frame = parse((await spool.oldest())?.text as string);
    expect(frame.type === 'snapshot' && inventoryByKey(frame.inventory)).toEqual(inventoryByKey(latest));
    expect(parsed()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ msg: 'resync: unacked readings dropped; their samples are lost', dropped: 2 }),
      ]),
    );
    // The next reading builds on the snapshot.
    expect(await spool.append(reading(3))).toMatchObject({ seq: 5, type: 'delta' });
  });

  it('replaces the backlog by one full snapshot past maxFrames', async () => {
    const dir = await stateDir();
    const { log, parsed } = logs();
    const spool = await Spool.open(dir, log, { maxFrames: 3 });
    for (let i = 1; i <= 3; i += 1) await spool.append(reading(i));
    const latest = reading(4);
    const r = await spool.append(latest);
    expect(r).toMatchObject({ seq: 4, type: 'snapshot', dropped: 3 });
    expect(await frameFiles(dir)).toEqual([fileName(4)]);
    expect(spool.backlog.frames).toBe(1);
    expect(parsed()).toEqual(
      expect.arrayContaining([expect.objectContaining({ level: 'warn', dropped: 3, maxFrames: 3 })]),
    );
    expect(inventoryByKey(replay(await drain(spool)))).toEqual(inventoryByKey(latest));
  });

  it('replaces the backlog by one full snapshot past maxBytes', async () => {
    const dir = await stateDir();
    const probe = await Spool.open(null, logs().log);
    const snapshotBytes = (await probe.append(reading(1))).bytes;
    const spool = await Spool.open(dir, logs().log, { maxBytes: snapshotBytes * 2 });
    let backlog = 0;
    let last = await spool.append(reading(1));
    for (let i = 0; last.dropped === 0; i += 1) {
      expect(spool.backlog.bytes).toBeLessThanOrEqual(snapshotBytes * 2);
      backlog = spool.backlog.frames;
      last = await spool.append(reading(2 + (i % 2)));
    }
    expect(backlog).toBeGreaterThan(2);
    expect(last.type).toBe('snapshot');
    expect(last.dropped).toBe(backlog);
    expect(spool.backlog.frames).toBe(1);
    const files = await frameFiles(dir);
    expect(files).toEqual([fileName(last.seq)]);
  });
});

describe('Spool without a writable state directory', () => {
  it('keeps frames in memory, bounded the same way, on a new stream per process, with one warning', async () => {
    const parent = await stateDir();
    const notADir = path.join(parent, 'file');
    await writeFile(notADir, 'x');
    const { log, parsed } = logs();
    const spool = await Spool.open(notADir, log, { maxFrames: 2 });
    expect(spool.dir).toBeNull();
    const again = await Spool.open(notADir, logs().log);
    expect(again.stream).not.toBe(spool.stream);
    expect(parsed().filter((l) => l.level === 'warn')).toHaveLength(1);

    const first = await spool.append(reading(1));
    const second = await spool.append(reading(2));
    expect([first.type, second.type]).toEqual(['snapshot', 'delta']);
    const latest = reading(3);
    expect(await spool.append(latest)).toMatchObject({ type: 'snapshot', dropped: 2 });
    expect(inventoryByKey(replay(await drain(spool)))).toEqual(inventoryByKey(latest));
    expect(spool.backlog).toEqual({ frames: 0, bytes: 0 });
  });

  it('moves to memory on a new stream when the spool directory fails under it', async () => {
    const dir = await stateDir();
    const { log, parsed } = logs();
    const spool = await Spool.open(dir, log);
    await spool.append(reading(1));
    await spool.append(reading(2));
    const before = spool.stream;
    // The directory is replaced by a file: every write in it fails.
    await rm(path.join(dir, SPOOL_DIR), { recursive: true });
    await writeFile(path.join(dir, SPOOL_DIR), 'x');
    const latest = reading(3);
    const r = await spool.append(latest);
    expect(r).toMatchObject({ seq: 3, type: 'snapshot' });
    expect(spool.stream).not.toBe(before);
    expect(spool.dir).toBeNull();
    expect(parsed()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          msg: 'cannot write the spool directory; unacked readings are kept in memory from now on',
          dropped: 2,
        }),
      ]),
    );
    expect(await spool.append(reading(4))).toMatchObject({ seq: 4, type: 'delta' });
    // An ack for the old stream's frames (seq 1 and 2) removes nothing of the new one.
    expect(await spool.ack(2)).toBe(0);
    const sent = await drain(spool);
    expect(sent.map((t) => parse(t))).toEqual([
      expect.objectContaining({ seq: 3, stream: spool.stream }),
      expect.objectContaining({ seq: 4, baseSeq: 3 }),
    ]);
  });

  it('creates the state directory private when it is missing', async () => {
    const parent = await stateDir();
    const dir = path.join(parent, 'new', 'state');
    await mkdir(parent, { recursive: true });
    const spool = await Spool.open(dir, logs().log);
    expect(spool.dir).toBe(path.join(dir, SPOOL_DIR));
    expect(await mode(path.join(dir, SPOOL_DIR))).toBe(0o700);
    expect(await mode(dir)).toBe(0o700);
  });
});
