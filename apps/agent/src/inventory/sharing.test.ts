import { describe, expect, it } from 'vitest';
import { computeSharing, type SharingContainer, type SharingImage } from './sharing.js';

const SIZES: Record<string, number> = { base: 1000, sym: 0, a: 400, b: 300, c1: 100, c2: 100, l1: 50, l2: 20, o: 7 };
const size = (id: string) => SIZES[id];

function img(id: string, chainIds: string[], opts: Partial<SharingImage> = {}): SharingImage {
  return { id, parentId: null, hasTags: true, hasRefs: true, chainIds, ...opts };
}
const untagged = { hasTags: false, hasRefs: false };

describe('computeSharing', () => {
  const images: SharingImage[] = [
    img('base', ['base', 'sym']),
    img('app-a', ['base', 'sym', 'a']),
    img('app-b', ['base', 'sym', 'b']),
    img('dangling-c1', ['base', 'sym', 'c1'], untagged),
    img('app-c', ['base', 'sym', 'c2']),
    // Classic builder: legacy:1 <- i2 <- i1, intermediates with one child each.
    img('i1', ['l1'], { ...untagged }),
    img('i2', ['l1', 'l2'], { ...untagged, parentId: 'i1' }),
    img('legacy', ['l1', 'l2'], { parentId: 'i2' }),
  ];

  it('splits each image into exclusive and shared bytes, and sizes LayersSize once per layer', () => {
    const r = computeSharing(images, [], size);
    expect(r.images.get('app-a')).toMatchObject({
      sizeBytes: 1400,
      exclusiveBytes: 400,
      sharedBytes: 1000,
      topLevel: true,
    });
    expect(r.images.get('base')).toMatchObject({ sizeBytes: 1000, exclusiveBytes: 0, sharedBytes: 1000 });
    expect(r.images.get('dangling-c1')).toMatchObject({ exclusiveBytes: 100, dangling: true, topLevel: true });
    expect(r.imagesBytes).toBe(1000 + 0 + 400 + 300 + 100 + 100 + 50 + 20);
    expect(r.layerImages.get('base')).toEqual(['base', 'app-a', 'app-b', 'dangling-c1', 'app-c']);
  });

  it('lets an image own the unreferenced single-child parents that `docker rmi` deletes with it', () => {
    const r = computeSharing(images, [], size);
    expect(r.images.get('i1')).toMatchObject({ topLevel: false, dangling: false });
    expect(r.images.get('i2')?.topLevel).toBe(false);
    expect(r.images.get('legacy')).toMatchObject({ sizeBytes: 70, exclusiveBytes: 70 });
    expect(r.layerImages.get('l1')).toEqual(['legacy']);
  });

  it('treats an intermediate with two children as a separate user of its layers', () => {
    const forked = [...images, img('legacy-2', ['l1', 'l2', 'o'], { parentId: 'i2' })];
    const r = computeSharing(forked, [], size);
    expect(r.images.get('legacy')).toMatchObject({ exclusiveBytes: 0, sharedBytes: 70 });
    expect(r.images.get('legacy-2')).toMatchObject({ exclusiveBytes: 7, sharedBytes: 70 });
  });

  it('keeps a parent used by a container out of the image that would otherwise own it', () => {
    const containers: SharingContainer[] = [{ id: 'ctr', imageId: 'i2', chainIds: ['l1', 'l2'] }];
    const r = computeSharing(images, containers, size);
    expect(r.images.get('legacy')?.exclusiveBytes).toBe(0);
  });

  it("counts a container whose image is gone as a user of its rw layer's parent chain", () => {
    const containers: SharingContainer[] = [
      { id: 'orphan', imageId: 'sha256:deleted', chainIds: ['base', 'sym', 'a'] },
    ];
    const r = computeSharing(images, containers, size);
    // Docker's SharedSize ignores containers: it would still call layer `a` unique to app-a.
    expect(r.images.get('app-a')).toMatchObject({ exclusiveBytes: 0, sharedBytes: 1400 });
  });

  it("follows Docker's dangling rule: no tags and no children; digest-only parents stay top-level", () => {
    const r = computeSharing(
      [img('pulled', ['base'], { hasTags: false, hasRefs: true }), img('child', ['base', 'a'], { parentId: 'pulled' })],
      [],
      size,
    );
    expect(r.images.get('pulled')).toMatchObject({ topLevel: true, dangling: false });
  });

  it('flags images with a layer of unknown size', () => {
    const r = computeSharing([img('x', ['base', 'unknown'])], [], size);
    expect(r.images.get('x')?.sizesKnown).toBe(false);
  });
});
