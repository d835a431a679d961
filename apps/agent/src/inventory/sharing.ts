export interface SharingImage {
  id: string;
  parentId: string | null;
  hasTags: boolean;
  /** Tags or digests: any reference keeps an image from being pruned as an unused parent. */
  hasRefs: boolean;
  chainIds: readonly string[];
}

export interface SharingContainer {
  id: string;
  imageId: string;
  /** The rw layer's parent chain, used when the container's image no longer exists. */
  chainIds: readonly string[];
}

export interface ImageSharing {
  topLevel: boolean;
  dangling: boolean;
  sizeBytes: number;
  exclusiveBytes: number;
  sharedBytes: number;
  /** False when some layer of the chain has no known size (sizes then come from Docker). */
  sizesKnown: boolean;
}

export interface SharingResult {
  images: Map<string, ImageSharing>;
  /** chainID → top-level images whose chain contains it. */
  layerImages: Map<string, string[]>;
  /** Σ size of each distinct layer in the chains of top-level images (Docker's LayersSize). */
  imagesBytes: number;
}

/**
 * Who uses each layer, and so what deleting each image frees.
 *
 * - Intermediate = no references and at least one child (classic-builder parents; hidden by
 *   `docker images`). Top-level = every other image. Dangling = no tags and no children
 *   (Docker's `dangling=true`: digest-only images count as dangling there).
 * - Deleting an image also deletes the chain of unreferenced parents that have no other
 *   child and no container (`docker rmi` prunes parents that way), so those intermediates
 *   belong to the image; every other image, intermediate or not, is a separate user.
 * - A container counts as a user of its image's chain; one whose image is gone (removed
 *   with --force) is a user of its own rw layer's parent chain.
 * - exclusiveBytes = Σ size of the image's layers with no other user; sharedBytes = the rest.
 */
export function computeSharing(
  images: readonly SharingImage[],
  containers: readonly SharingContainer[],
  layerSize: (chainId: string) => number | undefined,
): SharingResult {
  const byId = new Map(images.map((i) => [i.id, i]));
  const children = new Map<string, number>();
  for (const image of images) {
    if (image.parentId && byId.has(image.parentId)) {
      children.set(image.parentId, (children.get(image.parentId) ?? 0) + 1);
    }
  }
  const usedByContainer = new Set(containers.map((c) => c.imageId));
  const isIntermediate = (i: SharingImage) => !i.hasRefs && (children.get(i.id) ?? 0) > 0;

  const owner = new Map<string, string>();
  for (const image of images) {
    if (isIntermediate(image)) continue;
    owner.set(image.id, image.id);
    let parent = image.parentId ? byId.get(image.parentId) : undefined;
    while (parent && isIntermediate(parent) && children.get(parent.id) === 1 && !usedByContainer.has(parent.id)) {
      owner.set(parent.id, image.id);
      parent = parent.parentId ? byId.get(parent.parentId) : undefined;
    }
  }
  const ownerOf = (id: string) => owner.get(id) ?? id;

  const users = new Map<string, Set<string>>();
  const use = (chainId: string, user: string) => {
    let set = users.get(chainId);
    if (!set) {
      set = new Set();
      users.set(chainId, set);
    }
    set.add(user);
  };
  for (const image of images) for (const chainId of image.chainIds) use(chainId, ownerOf(image.id));
  for (const c of containers) {
    const image = byId.get(c.imageId);
    const user = image ? ownerOf(image.id) : `container:${c.id}`;
    for (const chainId of image ? image.chainIds : c.chainIds) use(chainId, user);
  }

  const result: SharingResult = { images: new Map(), layerImages: new Map(), imagesBytes: 0 };
  const counted = new Set<string>();
  for (const image of images) {
    const topLevel = !isIntermediate(image);
    let sizeBytes = 0;
    let exclusiveBytes = 0;
    let sizesKnown = true;
    for (const chainId of image.chainIds) {
      const size = layerSize(chainId);
      if (size === undefined) sizesKnown = false;
      const bytes = size ?? 0;
      sizeBytes += bytes;
      const layerUsers = users.get(chainId);
      if (layerUsers?.size === 1 && layerUsers.has(image.id)) exclusiveBytes += bytes;
      if (topLevel) {
        const list = result.layerImages.get(chainId) ?? [];
        list.push(image.id);
        result.layerImages.set(chainId, list);
        if (!counted.has(chainId)) {
          counted.add(chainId);
          result.imagesBytes += bytes;
        }
      }
    }
    result.images.set(image.id, {
      topLevel,
      dangling: !image.hasTags && (children.get(image.id) ?? 0) === 0,
      sizeBytes,
      exclusiveBytes,
      sharedBytes: sizeBytes - exclusiveBytes,
      sizesKnown,
    });
  }
  return result;
}
