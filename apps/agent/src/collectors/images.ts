import { mapLimit } from '../concurrency.js';
import { chainIds } from '../inventory/chain.js';
import type { ImageFacts, ScanContext } from './context.js';
import { historyLayerSizes } from './history.js';
import type { Collector } from './registry.js';

/** API < 1.43 lists untagged images as `<none>:<none>` / `<none>@<none>`; newer ones as []. */
function realRefs(refs: string[]): string[] {
  return refs.filter((r) => r !== '<none>:<none>' && r !== '<none>@<none>');
}

/**
 * All images, intermediate parents included (`all=1`): their layers decide what deleting
 * an image frees. Inspect results are immutable per image ID and cached. When the layerdb
 * cannot be read, layer sizes come from `/images/{id}/history` instead.
 */
export const imagesCollector: Collector<ScanContext> = {
  name: 'images',
  async collect(ctx) {
    ctx.facts.images = [];
    if (!ctx.facts.engine) return;
    const useHistory = ctx.facts.layerSource !== 'layerdb';
    const list = await ctx.client.listImages(ctx.signal);
    const unmapped: string[] = [];

    const images = await mapLimit(list, 8, async (summary): Promise<ImageFacts | null> => {
      let cached = ctx.imageCache.get(summary.Id);
      if (!cached) {
        const inspect = await ctx.client.inspectImage(summary.Id, ctx.signal);
        if (!inspect) return null;
        cached = { diffIds: inspect.RootFS.Layers, parentId: inspect.Parent || null };
        ctx.imageCache.set(summary.Id, cached);
      }
      if (useHistory && cached.historySizes === undefined) {
        const history = await ctx.client.imageHistory(summary.Id, ctx.signal);
        cached.historySizes = history ? historyLayerSizes(history, cached.diffIds.length) : null;
      }
      return {
        id: summary.Id,
        repoTags: realRefs(summary.RepoTags),
        repoDigests: realRefs(summary.RepoDigests),
        createdAt: summary.Created > 0 ? new Date(summary.Created * 1000).toISOString() : null,
        labels: summary.Labels,
        parentId: summary.ParentId || cached.parentId,
        diffIds: cached.diffIds,
        chainIds: chainIds(cached.diffIds),
        apiSizeBytes: summary.Size,
      };
    });
    // /images/json comes in map order, different on every call: sort so snapshots diff cleanly.
    const present = images.filter((i): i is ImageFacts => i !== null).sort((a, b) => a.id.localeCompare(b.id));
    const ids = new Set(present.map((i) => i.id));
    for (const id of ctx.imageCache.keys()) if (!ids.has(id)) ctx.imageCache.delete(id);
    ctx.facts.images = present;

    if (useHistory) {
      const layers = new Map(ctx.facts.layers ?? []);
      for (const image of present) {
        const sizes = ctx.imageCache.get(image.id)?.historySizes;
        if (!sizes) {
          unmapped.push(image.id);
          continue;
        }
        image.chainIds.forEach((chainId, i) => {
          if (layers.has(chainId)) return;
          layers.set(chainId, {
            chainId,
            diffId: image.diffIds[i] ?? chainId,
            cacheId: null,
            sizeBytes: sizes[i] ?? 0,
            parent: i > 0 ? (image.chainIds[i - 1] ?? null) : null,
          });
        });
      }
      ctx.facts.layers = layers;
      ctx.facts.layerSource = 'history';
      if (unmapped.length > 0) {
        throw new Error(
          `image history does not account for the layers of ${unmapped.join(', ')}; their layer sizes are unknown`,
        );
      }
    }
  },
};
