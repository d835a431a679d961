import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as z from '@ballast/shared/zod';
import { mapLimit } from '../concurrency.js';
import { chainIds } from '../inventory/chain.js';
import type { ImageFacts, LayerMeta, ScanContext } from './context.js';
import { historyLayerSizes } from './history.js';
import type { Collector } from './registry.js';

/** API < 1.43 lists untagged images as `<none>:<none>` / `<none>@<none>`; newer ones as []. */
function realRefs(refs: string[]): string[] {
  return refs.filter((r) => r !== '<none>:<none>' && r !== '<none>@<none>');
}

/** The part of an image config (imagedb content) the inventory needs. */
const ZImageConfig = z.object({ rootfs: z.object({ diff_ids: z._default(z.array(z.string()), []) }) });

function readIfPresent(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * An image's diffIDs and parent from the graphdriver's image store on disk, what
 * `/images/{id}/json` answers from (`RootFS.Layers` is the config's `rootfs.diff_ids`, `Parent`
 * the metadata `parent` file). The config is content-addressed by the image ID and never
 * changes. Reading ~400 small files costs a few ms where as many inspects cost over a second.
 * Null when the image is not (or no longer) there: the API is asked instead.
 */
export function readImageFromStore(
  imagedbDir: string,
  imageId: string,
): { diffIds: string[]; parentId: string | null } | null {
  const hex = /^sha256:([0-9a-f]{64})$/.exec(imageId)?.[1];
  if (!hex) return null;
  const config = readIfPresent(path.join(imagedbDir, 'content', 'sha256', hex));
  if (config === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(config);
  } catch {
    return null;
  }
  const parsed = ZImageConfig.safeParse(json);
  if (!parsed.success) return null;
  const parent = readIfPresent(path.join(imagedbDir, 'metadata', 'sha256', hex, 'parent'))?.trim();
  return { diffIds: parsed.data.rootfs.diff_ids, parentId: parent || null };
}

/**
 * An image's chain with the ID strings the layerdb cache already holds. Base layers sit under
 * hundreds of images, and each image's config and chain hashing makes its own copy of their
 * IDs; kept for the process lifetime, the copies cost more heap than the rest of the chain.
 */
function canonicalChain(
  diffIds: string[],
  layerMeta: ReadonlyMap<string, LayerMeta>,
): { diffIds: string[]; chainIds: string[] } {
  const chain = chainIds(diffIds).map((id) => layerMeta.get(id)?.chainId ?? id);
  return {
    diffIds: diffIds.map((id, i) => {
      const meta = layerMeta.get(chain[i] ?? '');
      return meta?.diffId === id ? meta.diffId : id;
    }),
    chainIds: chain,
  };
}

/**
 * All images, intermediate parents included (`all=1`): their layers decide what deleting
 * an image frees. The layer chain comes from the image store on disk when the layerdb is
 * readable, else from an inspect; either is immutable per image ID and cached. When the layerdb
 * cannot be read, layer sizes come from `/images/{id}/history` instead.
 */
export const imagesCollector: Collector<ScanContext> = {
  name: 'images',
  async collect(ctx) {
    ctx.facts.images = [];
    if (!ctx.facts.engine) return;
    const useHistory = ctx.facts.layerSource !== 'layerdb';
    if (ctx.reuse && !useHistory && ctx.reuse.layerSource === 'layerdb') {
      ctx.facts.images = ctx.reuse.images;
      return;
    }
    const list = await ctx.client.listImages(ctx.signal);
    const unmapped: string[] = [];
    const layerdbDir = ctx.facts.engine.layerdbDir;
    const imagedbDir = !useHistory && layerdbDir ? path.join(path.dirname(layerdbDir), 'imagedb') : null;

    const images = await mapLimit(list, 8, async (summary): Promise<ImageFacts | null> => {
      let cached = ctx.imageCache.get(summary.Id);
      if (!cached) {
        let found = imagedbDir ? readImageFromStore(imagedbDir, summary.Id) : null;
        if (!found) {
          const inspect = await ctx.client.inspectImage(summary.Id, ctx.signal);
          if (!inspect) return null;
          found = { diffIds: inspect.RootFS.Layers, parentId: inspect.Parent || null };
        }
        cached = { ...canonicalChain(found.diffIds, ctx.layerMetaCache), parentId: found.parentId };
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
        chainIds: cached.chainIds,
        apiSizeBytes: summary.Size,
      };
    });
    // /images/json comes in map order, different on every call: sort so snapshots diff cleanly
    // (by code unit: localeCompare would map ICU's collation data, megabytes of RSS, for hex IDs).
    const present = images
      .filter((i): i is ImageFacts => i !== null)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
