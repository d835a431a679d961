import { describe, expect, it } from 'vitest';
import { decodeDiskUsageResponse, decodeDiskUsageSizes } from './buildkit.js';

/** Protobuf encoding by hand, independent of the decoder: tag = field << 3 | wire type. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const field = (n: number, wire: number) => varint(n * 8 + wire);
const str = (n: number, s: string) => [...field(n, 2), ...varint(Buffer.byteLength(s)), ...Buffer.from(s)];
const num = (n: number, v: number) => [...field(n, 0), ...varint(v)];
const msg = (n: number, body: number[]) => [...field(n, 2), ...varint(body.length), ...body];

describe('decodeDiskUsageResponse', () => {
  it('reads ID, InUse, Size, Parent(s), LastUsedAt, RecordType and Shared, skipping the other fields', () => {
    const big = 5 * 2 ** 32 + 7; // sizes above 4 GiB need more than 32 bits
    const first = [
      ...str(1, 'rec-a'),
      ...num(2, 1),
      ...num(3, 1),
      ...num(4, big),
      ...str(5, 'parent'),
      ...msg(6, [...num(1, 1_700_000_000), ...num(2, 5)]),
      ...msg(7, [...num(1, 1_700_000_100), ...num(2, 250_000_000)]),
      ...num(8, 3),
      ...str(9, 'mount / from exec'),
      ...str(10, 'regular'),
      ...num(11, 1),
      ...str(12, 'p1'),
      ...str(12, 'p2'),
    ];
    const second = [...str(1, 'rec-b'), ...num(4, 0), ...str(10, 'source.local')];
    const message = Buffer.from([...msg(1, first), ...msg(1, second)]);
    expect(decodeDiskUsageResponse(message)).toEqual([
      {
        ID: 'rec-a',
        InUse: true,
        Size: big,
        Type: 'regular',
        Shared: true,
        Parent: 'parent',
        Parents: ['p1', 'p2'],
        LastUsedAt: '2023-11-14T22:15:00.250Z',
      },
      {
        ID: 'rec-b',
        InUse: false,
        Size: 0,
        Type: 'source.local',
        Shared: false,
        Parents: [],
        LastUsedAt: null,
      },
    ]);
    expect(decodeDiskUsageResponse(Buffer.alloc(0))).toEqual([]);

    // For the figures: the same records with only their type, flags and size.
    expect(decodeDiskUsageSizes(message)).toEqual([
      { InUse: true, Size: big, Type: 'regular', Shared: true },
      { InUse: false, Size: 0, Type: 'source.local', Shared: false },
    ]);
  });

  it('rejects a truncated message', () => {
    expect(() => decodeDiskUsageResponse(Buffer.from([0x0a, 0x10, 0x0a]))).toThrow(/truncated/);
    expect(() => decodeDiskUsageSizes(Buffer.from([0x0a, 0x10, 0x0a]))).toThrow(/truncated/);
  });
});
