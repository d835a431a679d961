import { describe, expect, it } from 'vitest';
import {
  encodeMessage,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
  parseServerMessage,
  peekReading,
} from './protocol.js';
import { makeSampleInventory } from './sample-inventory.js';

const hello = { v: 1, type: 'hello', agentVersion: '0.1.0', machineId: 'm1', hostname: 'h1', capabilities: [] };

describe('parseAgentMessage', () => {
  it('accepts a valid hello and snapshot', () => {
    expect(parseAgentMessage(JSON.stringify(hello))).toMatchObject({ ok: true, message: { type: 'hello' } });
    const snapshot = {
      v: PROTOCOL_VERSION,
      type: 'snapshot',
      stream: 'stream-test-1',
      seq: 3,
      inventory: makeSampleInventory(),
    };
    const parsed = parseAgentMessage(JSON.stringify(snapshot));
    expect(parsed.ok).toBe(true);
  });

  it('rejects malformed JSON, non-objects and arrays as bad frames', () => {
    for (const raw of ['{', 'null', '42', '[]', '"hello"']) {
      expect(parseAgentMessage(raw)).toMatchObject({ ok: false, code: 'bad_frame' });
    }
  });

  it('refuses unknown and missing protocol versions', () => {
    expect(parseAgentMessage(JSON.stringify({ ...hello, v: 2 }))).toMatchObject({
      ok: false,
      code: 'unsupported_version',
    });
    expect(parseAgentMessage(JSON.stringify({ ...hello, v: undefined }))).toMatchObject({
      ok: false,
      code: 'unsupported_version',
    });
  });

  it('denies types that are not in the protocol, including server-only ones', () => {
    expect(parseAgentMessage(JSON.stringify({ v: 1, type: 'exec', cmd: 'rm -rf /' }))).toMatchObject({
      ok: false,
      code: 'unknown_type',
    });
    expect(parseAgentMessage(JSON.stringify({ v: 1, type: 'ack', seq: 1 }))).toMatchObject({
      ok: false,
      code: 'unknown_type',
    });
  });

  it('names the field that failed validation', () => {
    const bad = { v: 1, type: 'snapshot', stream: 'stream-test-1', seq: -1, inventory: makeSampleInventory() };
    const parsed = parseAgentMessage(JSON.stringify(bad));
    expect(parsed).toMatchObject({ ok: false, code: 'bad_frame' });
    expect(!parsed.ok && parsed.message).toContain('seq');
  });

  it('rejects byte figures that are not non-negative integers', () => {
    const inventory = makeSampleInventory();
    inventory.totals.imagesBytes = 1.5;
    const parsed = parseAgentMessage(
      JSON.stringify({ v: 1, type: 'snapshot', stream: 'stream-test-1', seq: 1, inventory }),
    );
    expect(parsed).toMatchObject({ ok: false, code: 'bad_frame' });
  });

  it('accepts a delta on a base seq, and refuses one without a stream or with a bad stream', () => {
    const delta = {
      v: 1,
      type: 'delta',
      stream: 'stream-test-1',
      seq: 4,
      baseSeq: 3,
      delta: { set: { collectedAt: new Date().toISOString() }, unset: [], containers: { put: [], remove: ['x'] } },
    };
    expect(parseAgentMessage(JSON.stringify(delta))).toMatchObject({ ok: true, message: { type: 'delta', seq: 4 } });
    expect(parseAgentMessage(JSON.stringify({ ...delta, stream: undefined }))).toMatchObject({
      ok: false,
      message: expect.stringContaining('stream'),
    });
    expect(parseAgentMessage(JSON.stringify({ ...delta, stream: 'a b/../c' }))).toMatchObject({ ok: false });
    expect(parseAgentMessage(JSON.stringify({ ...delta, baseSeq: undefined }))).toMatchObject({ ok: false });
  });

  it('rejects frames over the size limit before parsing them', () => {
    const raw = JSON.stringify({ ...hello, hostname: 'x'.repeat(MAX_FRAME_BYTES) });
    expect(parseAgentMessage(raw)).toMatchObject({
      ok: false,
      code: 'bad_frame',
      message: expect.stringContaining('exceeds'),
    });
  });
});

describe('parseServerMessage', () => {
  it('accepts ack and welcome, refuses agent types', () => {
    expect(parseServerMessage(JSON.stringify({ v: 1, type: 'ack', seq: 1 })).ok).toBe(true);
    expect(
      parseServerMessage(
        JSON.stringify({
          v: 1,
          type: 'welcome',
          hostId: 'host_x',
          serverVersion: '0.1.0',
          snapshotIntervalSeconds: 60,
        }),
      ).ok,
    ).toBe(true);
    expect(parseServerMessage(JSON.stringify({ v: 1, type: 'resync', seq: 5, reason: 'gap' })).ok).toBe(true);
    expect(parseServerMessage(JSON.stringify(hello))).toMatchObject({ ok: false, code: 'unknown_type' });
  });
});

describe('peekReading', () => {
  const inventory = makeSampleInventory();
  it('reads type and seq from the head of a snapshot or delta as agents encode them', () => {
    const snapshot = encodeMessage({ v: 1, type: 'snapshot', stream: 'stream-test-1', seq: 42, inventory });
    expect(peekReading(Buffer.from(snapshot))).toEqual({ type: 'snapshot', seq: 42 });
    const delta = JSON.stringify({ v: 1, type: 'delta', stream: 'stream-test-1', seq: 7, baseSeq: 6, delta: {} });
    expect(peekReading(Buffer.from(delta))).toEqual({ type: 'delta', seq: 7 });
  });

  it('reads nothing from other frames, other layouts or seqs that are not safe integers', () => {
    const peek = (value: unknown) => peekReading(Buffer.from(JSON.stringify(value)));
    expect(peek(hello)).toBeNull();
    expect(peek({ type: 'snapshot', v: 1, stream: 'stream-test-1', seq: 1 })).toBeNull();
    expect(peek({ v: 2, type: 'snapshot', stream: 'stream-test-1', seq: 1 })).toBeNull();
    expect(peek({ v: 1, type: 'snapshot', stream: 'short', seq: 1 })).toBeNull();
    expect(peek({ v: 1, type: 'snapshot', stream: 'stream-test-1', seq: -1 })).toBeNull();
    expect(peek({ v: 1, type: 'snapshot', stream: 'stream-test-1', seq: 1.5 })).toBeNull();
    expect(
      peekReading(Buffer.from('{"v":1,"type":"snapshot","stream":"stream-test-1","seq":9999999999999999}')),
    ).toBeNull();
    expect(peekReading(Buffer.from('{"v":1,"type":"snapshot","stream":"stream-test-1","seq":12'))).toBeNull();
    expect(peekReading(Buffer.from('not json'))).toBeNull();
  });

  it('accepts proceed and a queued busy from the server', () => {
    expect(parseServerMessage(JSON.stringify({ v: 1, type: 'proceed', withinSeconds: 30 })).ok).toBe(true);
    expect(parseServerMessage(JSON.stringify({ v: 1, type: 'proceed' })).ok).toBe(false);
    expect(
      parseServerMessage(
        JSON.stringify({ v: 1, type: 'error', code: 'busy', message: 'm', seq: 3, retryAfterSeconds: 5, queued: true }),
      ),
    ).toMatchObject({ ok: true, message: { queued: true } });
  });
});
