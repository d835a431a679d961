import { describe, expect, it } from 'vitest';
import { type Inventory, ZInventory } from '../inventory.js';
import { makeSampleInventory } from '../sample-inventory.js';
import { contentOpportunities } from './content.js';
import { computeOpportunities } from './opportunities.js';
import { DEFAULT_SAVINGS_POLICY } from './policy.js';

const sha = (c: string) => `sha256:${c.repeat(64)}`;
const KiB = 1024;

/** svc-3 and svc-4 each carry a 4 MiB layer with the same content under different chainIDs. */
function analysed(): Inventory {
  const inv = makeSampleInventory();
  const [l3, l4, l5] = [sha('3'), sha('4'), sha('5')];
  const layer = (chainId: string, imageId: string) => ({
    chainId,
    diffId: chainId,
    cacheId: null,
    sizeBytes: 4 * 1024 * KiB,
    apparentBytes: null,
    allocatedBytes: null,
    imageIds: [imageId],
  });
  const image = (id: string, tag: string, chainIds: string[]) => ({
    ...(inv.images[0] as Inventory['images'][number]),
    id,
    repoTags: [tag],
    chainIds,
    diffIds: chainIds,
    containerIds: [],
  });
  inv.images.push(image(sha('c'), 'svc-3:1', [l3]), image(sha('d'), 'svc-4:1', [l4]), image(sha('e'), 'tool:1', [l5]));
  inv.layers.push(layer(l3, sha('c')), layer(l4, sha('d')), layer(l5, sha('e')));
  inv.duplicates = {
    analyzedLayers: 5,
    pendingLayers: 0,
    minFileBytes: 64 * KiB,
    layers: [{ contentDigest: sha('f'), chainIds: [l3, l4], bytes: 4 * 1024 * KiB, wastedBytes: 4 * 1024 * KiB }],
    files: [
      // Inside the duplicate layers and once more in tool:1: only the tool:1 copy is extra here.
      {
        contentHash: sha('9'),
        bytes: 100 * KiB,
        copies: [
          { chainId: l3, path: '/srv/lib.so' },
          { chainId: l4, path: '/srv/lib.so' },
          { chainId: l5, path: '/opt/lib.so' },
        ],
        copyCount: 3,
        wastedBytes: 200 * KiB,
      },
      // Only inside the duplicate layers: already counted as layer bytes.
      {
        contentHash: sha('8'),
        bytes: 80 * KiB,
        copies: [
          { chainId: l3, path: '/srv/data' },
          { chainId: l4, path: '/srv/data' },
        ],
        copyCount: 2,
        wastedBytes: 80 * KiB,
      },
    ],
    filesWastedBytes: 280 * KiB,
    fileGroups: 2,
  };
  inv.waste = [
    {
      imageId: sha('e'),
      wastedBytes: 30 * KiB,
      itemCount: 2,
      items: [
        { path: '/a', chainId: l5, bytes: 20 * KiB, reason: 'overwritten' },
        { path: '/b', chainId: l5, bytes: 10 * KiB, reason: 'deleted' },
      ],
    },
    {
      imageId: sha('d'),
      wastedBytes: 20 * KiB,
      itemCount: 1,
      items: [{ path: '/a', chainId: l5, bytes: 20 * KiB, reason: 'overwritten' }],
    },
  ];
  return ZInventory.parse(inv);
}

describe('contentOpportunities', () => {
  it('says which image repeats which, in exact bytes, as advice without an action', () => {
    const ops = contentOpportunities(analysed(), DEFAULT_SAVINGS_POLICY);
    const layers = ops.find((o) => o.kind === 'content.duplicateLayers');
    expect(layers).toMatchObject({ reclaimableBytes: 4 * 1024 * KiB, action: null, defaultSelected: false });
    expect(layers?.objects).toEqual([
      {
        id: sha('f'),
        name: 'svc-4:1 repeats the 4.0 MiB layer content of svc-3:1',
        bytes: 4 * 1024 * KiB,
        note: 'rebuild on a shared base',
      },
    ]);
  });

  it('counts file copies inside duplicate layers once, so no byte is counted by two kinds', () => {
    const files = contentOpportunities(analysed(), DEFAULT_SAVINGS_POLICY).find(
      (o) => o.kind === 'content.duplicateFiles',
    );
    expect(files?.reclaimableBytes).toBe(100 * KiB);
    expect(files?.objects.map((o) => [o.id, o.bytes])).toEqual([[sha('9'), 100 * KiB]]);
  });

  it('counts a redundant copy in a layer several images share once', () => {
    const waste = contentOpportunities(analysed(), DEFAULT_SAVINGS_POLICY).find((o) => o.kind === 'content.imageWaste');
    expect(waste?.reclaimableBytes).toBe(30 * KiB);
    expect(waste?.objects.map((o) => [o.name, o.bytes])).toEqual([
      ['tool:1', 30 * KiB],
      ['svc-4:1', 20 * KiB],
    ]);
  });

  it('proposes nothing without an analysis, and computeOpportunities includes the content kinds', () => {
    expect(contentOpportunities(makeSampleInventory(), DEFAULT_SAVINGS_POLICY)).toEqual([]);
    const kinds = computeOpportunities(analysed(), DEFAULT_SAVINGS_POLICY, new Date()).map((o) => o.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['content.duplicateLayers', 'content.duplicateFiles', 'content.imageWaste']),
    );
  });
});
