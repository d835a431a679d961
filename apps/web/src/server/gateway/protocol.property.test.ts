// Properties of the frame parser the gateway trusts: it never throws on anything a socket can
// carry, it accepts exactly the frames the schemas describe, and it names what is wrong.
import {
  type AgentMessage,
  diffInventories,
  MAX_FRAME_BYTES,
  parseAgentMessage,
  ZAgentMessage,
  ZEnrollRequest,
} from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const RUNS = { numRuns: 300 };
const AGENT_TYPES: string[] = ZAgentMessage.def.options.flatMap((o) => o.shape.type.def.values);

const hello = fc.record({
  v: fc.constant(1 as const),
  type: fc.constant('hello' as const),
  agentVersion: fc.string({ maxLength: 64 }),
  machineId: fc.string({ minLength: 1, maxLength: 128 }),
  hostname: fc.string({ minLength: 1, maxLength: 255 }),
  capabilities: fc.array(fc.string({ maxLength: 64 }), { maxLength: 64 }),
});
const heartbeat = fc.record({
  v: fc.constant(1 as const),
  type: fc.constant('heartbeat' as const),
  sentAt: fc
    .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString()),
});
const stream = fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/);
const snapshot = fc
  .record({ stream, seq: fc.nat(), machineId: fc.string({ minLength: 1, maxLength: 64 }) })
  .map(({ stream, seq, machineId }) => ({
    v: 1 as const,
    type: 'snapshot' as const,
    stream,
    seq,
    inventory: makeSampleInventory({ machineId }),
  }));
/** A delta between two sample inventories that differ in time, free space and one container's log. */
const delta = fc
  .record({ stream, seq: fc.nat(), used: fc.nat(), logBytes: fc.nat(), dropVolume: fc.boolean() })
  .map(({ stream, seq, used, logBytes, dropVolume }) => {
    const prev = makeSampleInventory({ collectedAt: new Date('2026-01-01T00:00:00Z') });
    const next = makeSampleInventory({ collectedAt: new Date('2026-01-01T00:01:00Z') });
    if (next.filesystem) next.filesystem.usedBytes = used;
    (next.containers[0] as (typeof next.containers)[number]).logBytes = logBytes;
    if (dropVolume) next.volumes = [];
    return {
      v: 1 as const,
      type: 'delta' as const,
      stream,
      seq: seq + 1,
      baseSeq: seq,
      delta: diffInventories(prev, next),
    };
  });
const validFrame: fc.Arbitrary<AgentMessage> = fc.oneof(hello, heartbeat, snapshot, delta);

describe('parseAgentMessage properties', () => {
  it('never throws on arbitrary strings, and refuses what is not a frame with a reason', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 512 }), (raw) => {
        const result = parseAgentMessage(raw);
        if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
        else expect(ZAgentMessage.safeParse(JSON.parse(raw)).success).toBe(true);
      }),
      RUNS,
    );
  });

  it('never throws on arbitrary JSON, and accepts it exactly when the schema does', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const raw = JSON.stringify(value);
        const result = parseAgentMessage(raw);
        expect(result.ok).toBe(ZAgentMessage.safeParse(JSON.parse(raw)).success);
      }),
      RUNS,
    );
  });

  it('accepts every valid frame and returns it unchanged', () => {
    fc.assert(
      fc.property(validFrame, (frame) => {
        const result = parseAgentMessage(JSON.stringify(frame));
        expect(result).toEqual({ ok: true, message: frame });
      }),
      RUNS,
    );
  });

  it('refuses a valid frame with a wrong type of field, an unknown type or another version', () => {
    fc.assert(
      fc.property(
        validFrame,
        fc.string({ minLength: 1 }).filter((t) => !AGENT_TYPES.includes(t)),
        fc.integer().filter((n) => n !== 1),
        (frame, unknownType, version) => {
          expect(parseAgentMessage(JSON.stringify({ ...frame, type: unknownType }))).toMatchObject({
            ok: false,
            code: 'unknown_type',
          });
          expect(parseAgentMessage(JSON.stringify({ ...frame, v: version }))).toMatchObject({
            ok: false,
            code: 'unsupported_version',
          });
          const broken =
            frame.type === 'hello'
              ? { ...frame, machineId: 42 }
              : frame.type === 'heartbeat'
                ? { ...frame, sentAt: true }
                : frame.type === 'snapshot'
                  ? { ...frame, seq: -1 - frame.seq }
                  : frame.type === 'delta'
                    ? { ...frame, delta: { ...frame.delta, images: { put: [{ id: 1 }], remove: [] } } }
                    : { ...frame, jobId: '' };
          expect(parseAgentMessage(JSON.stringify(broken))).toMatchObject({ ok: false, code: 'bad_frame' });
        },
      ),
      RUNS,
    );
  });

  it('refuses oversized frames before parsing them', () => {
    const result = parseAgentMessage(`"${'x'.repeat(MAX_FRAME_BYTES)}"`);
    expect(result).toMatchObject({ ok: false, code: 'bad_frame' });
    if (!result.ok) expect(result.message).toContain('exceeds');
  });

  it('validates enrollment requests without throwing', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
        expect(() => ZEnrollRequest.safeParse(value)).not.toThrow();
      }),
      RUNS,
    );
  });
});
