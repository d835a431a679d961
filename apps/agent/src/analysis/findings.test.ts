import { describe, expect, it } from 'vitest';
import { duplicateFiles, duplicateLayers } from './findings.js';
import { comparePaths, type EntryType, type LayerEntry, nameToString } from './records.js';
import { computeImageWaste, type EntrySource } from './waste.js';

function source(chainId: string, entries: Array<[string, EntryType, number?, string?]>): EntrySource {
  const list: LayerEntry[] = entries
    .map(([path, type, size = 0, payload = '']) => ({ path, type, mode: 0o644, size, payload }))
    .sort((a, b) => comparePaths(a.path, b.path));
  let i = 0;
  return { chainId, next: () => list[i++] ?? null };
}

describe('comparePaths', () => {
  it('keeps each subtree contiguous: a directory, its children, then its next sibling', () => {
    const paths = ['/a.b', '/a/x', '/a', '/a/x/y', '/a-c', '/b'];
    expect(paths.sort(comparePaths)).toEqual(['/a', '/a/x', '/a/x/y', '/a-c', '/a.b', '/b']);
  });
});

describe('nameToString', () => {
  it('keeps valid UTF-8 and escapes invalid bytes so names never collide', () => {
    expect(nameToString(Buffer.from('café'))).toBe('café');
    expect(nameToString(Buffer.from([0x61, 0xff, 0x62]))).toBe('a\\x{ff}b');
    expect(nameToString(Buffer.from([0x61, 0xfe, 0x62]))).not.toBe(nameToString(Buffer.from([0x61, 0xff, 0x62])));
  });
});

describe('computeImageWaste', () => {
  it('counts overwritten copies below the visible one, never the visible one', () => {
    const w = computeImageWaste('img', [
      source('top', [['/f', 'f', 30]]),
      source('mid', [['/f', 'f', 20]]),
      source('base', [
        ['/f', 'f', 10],
        ['/g', 'f', 5],
      ]),
    ]);
    expect(w.wastedBytes).toBe(30);
    expect(w.items.map((i) => [i.chainId, i.reason, i.bytes])).toEqual([
      ['mid', 'overwritten', 20],
      ['base', 'overwritten', 10],
    ]);
  });

  it('counts files under a deleted directory, under a file that replaced a directory, and under an opaque directory', () => {
    const w = computeImageWaste('img', [
      source('top', [
        ['/gone', 'w'],
        ['/asfile', 'f', 1],
        ['/opq', 'd', 0, 'opaque'],
        ['/opq/new', 'f', 2],
      ]),
      source('base', [
        ['/gone', 'd'],
        ['/gone/x', 'f', 100],
        ['/gone/sub', 'd'],
        ['/gone/sub/y', 'f', 200],
        ['/asfile', 'd'],
        ['/asfile/z', 'f', 400],
        ['/opq', 'd'],
        ['/opq/old', 'f', 800],
        ['/opq.keep', 'f', 1600],
      ]),
    ]);
    expect(w.wastedBytes).toBe(100 + 200 + 400 + 800);
    expect(Object.fromEntries(w.items.map((i) => [i.path, i.reason]))).toEqual({
      '/gone/x': 'deleted',
      '/gone/sub/y': 'deleted',
      '/asfile/z': 'deleted',
      '/opq/old': 'opaque',
    });
  });

  it('does not count a file re-added above an opaque directory, nor hard-link secondaries', () => {
    const w = computeImageWaste('img', [
      source('top', [
        ['/d', 'd'],
        ['/d/a', 'f', 7],
      ]),
      source('mid', [['/d', 'd', 0, 'opaque']]),
      source('base', [
        ['/d', 'd'],
        ['/d/a', 'f', 3],
        ['/d/h1', 'f', 50],
        ['/d/h2', 'h', 50, '/d/h1'],
      ]),
    ]);
    expect(w.wastedBytes).toBe(53);
    expect(w.itemCount).toBe(2);
  });
});

describe('duplicateLayers', () => {
  it('groups equal content under different chainIDs and ignores empty layers', () => {
    const groups = duplicateLayers([
      { chainId: 'c2', contentDigest: 'x', regularBytes: 10 },
      { chainId: 'c1', contentDigest: 'x', regularBytes: 10 },
      { chainId: 'c3', contentDigest: 'x', regularBytes: 10 },
      { chainId: 'c4', contentDigest: 'y', regularBytes: 5 },
      { chainId: 'e1', contentDigest: 'empty', regularBytes: 0 },
      { chainId: 'e2', contentDigest: 'empty', regularBytes: 0 },
    ]);
    expect(groups).toEqual([{ contentDigest: 'x', chainIds: ['c1', 'c2', 'c3'], bytes: 10, wastedBytes: 20 }]);
  });
});

describe('duplicateFiles', () => {
  async function* layers() {
    yield { chainId: 'l1', files: [['h1', 100, '/a'] as const, ['h2', 70, '/b'] as const] };
    yield { chainId: 'l2', files: [['h1', 100, '/c'] as const, ['h3', 90, '/d'] as const] };
    yield { chainId: 'l3', files: [['h1', 100, '/e'] as const, ['h2', 70, '/f'] as const] };
  }

  it('ranks by (copies − 1) × size, lists the top ones and counts them all', async () => {
    const d = await duplicateFiles(layers(), 1);
    expect(d.groups).toBe(2);
    expect(d.wastedBytes).toBe(200 + 70);
    expect(d.files).toEqual([
      {
        contentHash: 'sha256:h1',
        bytes: 100,
        copyCount: 3,
        wastedBytes: 200,
        copies: [
          { chainId: 'l1', path: '/a' },
          { chainId: 'l2', path: '/c' },
          { chainId: 'l3', path: '/e' },
        ],
      },
    ]);
  });
});
