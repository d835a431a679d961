import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import * as z from '@ballast/shared/zod';
import { mapLimit } from '../concurrency.js';
import { readSmallFile, readSmallFiles } from '../fs/small-file.js';
import { chainIds } from '../inventory/chain.js';
import type { ImageFacts, LayerMeta, ScanContext } from './context.js';
import { historyLayerSizes } from './history.js';
import type { Collector } from './registry.js';

/** API < 1.43 lists untagged images as `<none>:<none>` / `<none>@<none>`; newer ones as []. */
function realRefs(refs: string[]): string[] {
  return refs.filter((r) => r !== '<none>:<none>' && r !== '<none>@<none>');
}

/** The part of an image config (imagedb content) the inventory needs. */
const ZImageConfig = z.object({
  created: z.nullish(z.string()),
  os: z.nullish(z.string()),
  config: z.nullish(z.object({ Labels: z.nullish(z.record(z.string(), z.string())) })),
  rootfs: z.object({ diff_ids: z._default(z.array(z.string()), []) }),
});

/** What an image's config and metadata in the image store say, immutable per image ID. */
export interface StoredImage {
  diffIds: string[];
  parentId: string | null;
  /** Go's `Created.Unix()` of the config's `created`, as `/images/json` answers; null without one. */
  created: number | null;
  labels: Record<string, string>;
  /** The config's `os`, `linux` when absent (dockerd's default). */
  os: string;
}

/** Whole seconds since the epoch of an RFC 3339 time as Go writes it (fraction dropped, as `Unix()` does). */
export function rfc3339Seconds(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, zone, sign, oh, om] = m;
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)) / 1000;
  // Date.UTC maps years 0-99 to 1900-1999; Go's zero time (year 1) is what an image without a date has.
  if (Number(y) < 100) return null;
  const offset = zone === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60);
  return utc - offset;
}

/** An image from its config's text and its metadata `parent` file (null: absent). */
function storedImage(hex: string, config: string | null, parentFile: string | null): StoredImage | null {
  // A config is content-addressed: one that does not hash to its ID is not an image (dockerd skips it too).
  if (config === null || createHash('sha256').update(config, 'utf8').digest('hex') !== hex) return null;
  let json: unknown;
  try {
    json = JSON.parse(config);
  } catch {
    return null;
  }
  const parsed = ZImageConfig.safeParse(json);
  if (!parsed.success) return null;
  const { created, os, config: runConfig, rootfs } = parsed.data;
  const seconds = created ? rfc3339Seconds(created) : null;
  return {
    diffIds: rootfs.diff_ids,
    parentId: parentFile?.trim() || null,
    created: seconds !== null && seconds > 0 ? seconds : null,
    labels: runConfig?.Labels ?? {},
    os: os || 'linux',
  };
}

function imageFiles(hex: string): [string, string] {
  return [`content/sha256/${hex}`, `metadata/sha256/${hex}/parent`];
}

/**
 * An image's config and parent from the graphdriver's image store on disk, what dockerd answers
 * `/images/json` and `/images/{id}/json` from (`RootFS.Layers` is the config's
 * `rootfs.diff_ids`, `Parent` the metadata `parent` file). The config is content-addressed by
 * the image ID and never changes. Reading ~400 small files costs a few ms where as many
 * inspects cost over a second. Null when the image is not (or no longer) there.
 */
export function readImageFromStore(imagedbDir: string, imageId: string): StoredImage | null {
  const hex = /^sha256:([0-9a-f]{64})$/.exec(imageId)?.[1];
  if (!hex) return null;
  const [config, parent] = imageFiles(hex).map((f) => readSmallFile(path.join(imagedbDir, f)));
  return storedImage(hex, config ?? null, parent ?? null);
}

/** Many images' configs and parents at once: with the native walker, read on the thread pool. */
async function readImagesFromStore(imagedbDir: string, hexes: readonly string[]): Promise<(StoredImage | null)[]> {
  const names = hexes.flatMap(imageFiles);
  const contents = await readSmallFiles(imagedbDir, names);
  return hexes.map((hex, i) => storedImage(hex, contents[2 * i] ?? null, contents[2 * i + 1] ?? null));
}

/**
 * A familiar reference as the reference store keeps it (`busybox:1`, `registry:5000/app@sha256:…`)
 * in its normalized form (`docker.io/library/busybox:1`), which dockerd sorts an image's
 * references by (distribution/reference's `ParseNormalizedNamed`).
 */
export function normalizedReference(familiar: string): string {
  const slash = familiar.indexOf('/');
  const first = slash < 0 ? '' : familiar.slice(0, slash);
  const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  let domain = hasDomain ? first : 'docker.io';
  let rest = hasDomain ? familiar.slice(slash + 1) : familiar;
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  return `${domain}/${rest}`;
}

const ZRepositories = z.object({
  Repositories: z._default(z.nullable(z.record(z.string(), z.record(z.string(), z.string()))), {}),
});

/**
 * Tags and digests per image ID from the reference store (`repositories.json`, written whole and
 * renamed into place by dockerd on every change), in dockerd's order. Null when it cannot be read.
 */
export function readReferences(file: string): Map<string, { tags: string[]; digests: string[] }> | null {
  let parsed: z.infer<typeof ZRepositories>;
  try {
    const text = readSmallFile(file);
    if (text === null) return null;
    const result = ZRepositories.safeParse(JSON.parse(text));
    if (!result.success) return null;
    parsed = result.data;
  } catch {
    return null;
  }
  const byId = new Map<string, Array<{ ref: string; sortKey: string }>>();
  for (const repository of Object.values(parsed.Repositories ?? {})) {
    for (const [ref, id] of Object.entries(repository)) {
      const refs = byId.get(id) ?? [];
      refs.push({ ref, sortKey: normalizedReference(ref) });
      byId.set(id, refs);
    }
  }
  const out = new Map<string, { tags: string[]; digests: string[] }>();
  for (const [id, refs] of byId) {
    refs.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    // The store never holds a reference with both a tag and a digest: `@` makes it a digest.
    out.set(id, {
      tags: refs.filter((r) => !r.ref.includes('@')).map((r) => r.ref),
      digests: refs.filter((r) => r.ref.includes('@')).map((r) => r.ref),
    });
  }
  return out;
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

/** `/images/json?all=1`, each chain from the image store when readable, else from an inspect. */
async function imagesFromApi(ctx: ScanContext, storeDir: string | null, useHistory: boolean): Promise<ImageFacts[]> {
  const list = await ctx.client.listImages(ctx.signal);
  const imagedbDir = storeDir ? path.join(storeDir, 'imagedb') : null;
  const images = await mapLimit(list, 8, async (summary): Promise<ImageFacts | null> => {
    let cached = ctx.imageCache.get(summary.Id);
    if (!cached) {
      let found: { diffIds: string[]; parentId: string | null } | null = imagedbDir
        ? readImageFromStore(imagedbDir, summary.Id)
        : null;
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
  return images.filter((i): i is ImageFacts => i !== null);
}

/**
 * Every image in the image store, as `/images/json?all=1` lists them, read from the files
 * dockerd answers it from (image/<driver>/): the configs in imagedb, the references in
 * repositories.json and the layer sizes in the layerdb. dockerd spends about 50 ms of CPU on
 * that call for 444 images, while the first scan's walks need both cores. Like dockerd's image
 * store, it leaves out configs that do not hash to their ID, images of another OS and images
 * whose top layer is not in the layerdb; Size is the sum of the chain's layer sizes, as
 * dockerd's `Layer.Size()`. Null when the store cannot be read: the API is asked.
 */
export async function imagesFromStore(ctx: ScanContext, storeDir: string): Promise<ImageFacts[] | null> {
  const references = readReferences(path.join(storeDir, 'repositories.json'));
  if (!references) return null;
  const imagedbDir = path.join(storeDir, 'imagedb');
  let hexes: string[];
  try {
    hexes = (await readdir(path.join(imagedbDir, 'content', 'sha256'))).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return null;
  }
  const unread = hexes.filter((hex) => !ctx.imageCache.get(`sha256:${hex}`)?.stored);
  let read: (StoredImage | null)[];
  try {
    read = await readImagesFromStore(imagedbDir, unread);
  } catch {
    return null;
  }
  unread.forEach((hex, i) => {
    const found = read[i];
    if (!found) return;
    const { diffIds, parentId, ...stored } = found;
    ctx.imageCache.set(`sha256:${hex}`, { ...canonicalChain(diffIds, ctx.layerMetaCache), parentId, stored });
  });
  const layers = ctx.facts.layers ?? new Map<string, LayerMeta>();
  const images: ImageFacts[] = [];
  for (const hex of hexes) {
    const id = `sha256:${hex}`;
    const cached = ctx.imageCache.get(id);
    if (!cached?.stored) continue;
    if (cached.stored.os.toLowerCase() !== 'linux') continue;
    const top = cached.chainIds.at(-1);
    if (top !== undefined && !layers.has(top)) continue;
    let size = 0;
    for (const chainId of cached.chainIds) size += layers.get(chainId)?.sizeBytes ?? 0;
    const refs = references.get(id);
    images.push({
      id,
      repoTags: refs?.tags ?? [],
      repoDigests: refs?.digests ?? [],
      createdAt: cached.stored.created !== null ? new Date(cached.stored.created * 1000).toISOString() : null,
      labels: cached.stored.labels,
      parentId: cached.parentId,
      diffIds: cached.diffIds,
      chainIds: cached.chainIds,
      apiSizeBytes: size,
    });
  }
  return images;
}

/**
 * All images, intermediate parents included (`all=1`): their layers decide what deleting
 * an image frees. With the layerdb readable they are read from the image store on disk
 * (`imagesFromStore`), else listed by the API with each chain from an inspect (cached: immutable
 * per image ID), and layer sizes come from `/images/{id}/history`.
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
    const unmapped: string[] = [];
    const layerdbDir = ctx.facts.engine.layerdbDir;
    const storeDir = !useHistory && layerdbDir ? path.dirname(layerdbDir) : null;
    const images =
      (storeDir ? await imagesFromStore(ctx, storeDir) : null) ?? (await imagesFromApi(ctx, storeDir, useHistory));
    // /images/json comes in map order, different on every call: sort so snapshots diff cleanly
    // (by code unit: localeCompare would map ICU's collation data, megabytes of RSS, for hex IDs).
    const present = images.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
