import type { Image, Inventory, PlanItem, PlanSkip } from '@ballast/shared';
import { bytesFreedByRemovingImages } from '@ballast/shared/savings/opportunities';
import type { RemediationConfig } from '../config/file.js';
import { imageRefs, protectedByLabel, protectedByPattern } from './policy.js';
import type { PlanDraft, SpecOf } from './types.js';

const DAY_MS = 86_400_000;

function imageName(image: Image): string {
  return image.repoTags[0] ?? image.repoDigests[0] ?? `<none> ${image.id.slice(7, 19)}`;
}

/** `repo` of `repo:tag` (a registry port's colon stays with the repository). */
export function repositoryOf(tag: string): string {
  const slash = tag.lastIndexOf('/');
  const colon = tag.lastIndexOf(':');
  return colon > slash ? tag.slice(0, colon) : tag;
}

/** Why an image must not be touched whatever the job says, or null. */
export function imageProtection(
  image: Pick<Image, 'id' | 'repoTags' | 'repoDigests' | 'labels'>,
  patterns: readonly string[],
  labelRules: readonly string[],
): string | null {
  return protectedByPattern(patterns, imageRefs(image)) ?? protectedByLabel(labelRules, image.labels);
}

/** Several repositories: Docker refuses removal by ID without force, and the agent never forces. */
function multiRepoReason(image: Image): string | null {
  const repos = new Set(image.repoTags.map(repositoryOf));
  return repos.size > 1
    ? `tagged in ${repos.size} repositories (${[...repos].join(', ')}); Docker removes such an image by ID only with force, which this agent never uses`
    : null;
}

/** containerd hosts: the engine's own protections, and no Docker multi-repository rule (images go by name). */
export interface ContainerdPlanning {
  engine: 'containerd';
  rule: (image: Image) => string | null;
}

function toItem(image: Image, ctrd?: ContainerdPlanning): PlanItem {
  if (ctrd) {
    return {
      type: 'image',
      id: image.id,
      name: imageName(image),
      bytes: image.exclusiveBytes,
      note: 'exclusive bytes: compressed blobs (content store) and unpacked snapshots (containerd usage) no other image or container uses',
    };
  }
  if (image.buildCacheHeld) {
    return {
      type: 'image',
      id: image.id,
      name: imageName(image),
      bytes: 0,
      note: `built with BuildKit: its ${image.exclusiveBytes} exclusive bytes stay on disk while the build cache holds its layers; a buildCache.prune frees them`,
    };
  }
  return {
    type: 'image',
    id: image.id,
    name: imageName(image),
    bytes: image.exclusiveBytes,
    note: 'exclusive bytes: layers no other image or container uses (layerdb sizes, as the dashboard shows)',
  };
}

function skip(image: Image, reason: string): PlanSkip {
  return { type: 'image', id: image.id, name: imageName(image), reason };
}

function finish(inv: Inventory, items: PlanItem[], skipped: PlanSkip[]): PlanDraft {
  const notes: string[] = [];
  const held = items.filter((i) => i.bytes === 0 && i.note?.startsWith('built with BuildKit'));
  if (held.length > 0) {
    notes.push(
      `${held.length} of ${items.length} images were built with BuildKit and free nothing until a build-cache prune ` +
        '(buildCache.prune) releases their layers; they are counted as 0 bytes here.',
    );
  }
  const together = bytesFreedByRemovingImages(inv, new Set(items.map((i) => i.id)));
  const exclusive = items.reduce((sum, i) => sum + i.bytes, 0);
  const heldBytes = inv.images.filter((i) => held.some((h) => h.id === i.id)).reduce((s, i) => s + i.exclusiveBytes, 0);
  if (together > exclusive + heldBytes) {
    notes.push(
      `Removing all of them together also frees ${together - exclusive - heldBytes} bytes of layers shared only among these images; no single item counts them.`,
    );
  }
  return { items, skipped, notes, configChange: null };
}

export function planPruneDangling(
  inv: Inventory,
  _spec: SpecOf<'images.pruneDangling'>,
  policy: RemediationConfig,
  ctrd?: ContainerdPlanning,
): PlanDraft {
  const items: PlanItem[] = [];
  const skipped: PlanSkip[] = [];
  for (const image of inv.images.filter((i) => i.dangling)) {
    const reason =
      (image.containerIds.length > 0
        ? `used by ${image.containerIds.length} container(s) in some state (${image.containerIds.map((c) => c.slice(0, 12)).join(', ')}); containers are never removed to free images`
        : null) ??
      imageProtection(image, policy.protectedImagePatterns, policy.protectedLabels) ??
      (ctrd ? ctrd.rule(image) : multiRepoReason(image));
    if (reason) skipped.push(skip(image, reason));
    else items.push(toItem(image, ctrd));
  }
  return finish(inv, items, skipped);
}

export function planPruneUnused(
  inv: Inventory,
  spec: SpecOf<'images.pruneUnused'>,
  policy: RemediationConfig,
  now: Date,
  ctrd?: ContainerdPlanning,
): PlanDraft {
  const p = spec.params;
  const patterns = [...policy.protectedImagePatterns, ...p.protectedImagePatterns];
  const labels = [...policy.protectedLabels, ...p.protectedLabels];
  // The newest N images of each repository (by creation time) stay.
  const kept = new Map<string, string>();
  const byRepo = new Map<string, Image[]>();
  for (const image of inv.images) {
    for (const repo of new Set(image.repoTags.map(repositoryOf))) {
      const list = byRepo.get(repo) ?? [];
      list.push(image);
      byRepo.set(repo, list);
    }
  }
  for (const [repo, list] of byRepo) {
    list.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '') || a.id.localeCompare(b.id));
    for (const image of list.slice(0, p.keepNewestTagsPerRepository)) {
      if (!kept.has(image.id)) kept.set(image.id, repo);
    }
  }
  const cutoff = now.getTime() - p.minAgeDays * DAY_MS;
  const items: PlanItem[] = [];
  const skipped: PlanSkip[] = [];
  for (const image of inv.images) {
    const lastUsed = image.lastUsedAt ?? image.createdAt;
    const repo = kept.get(image.id);
    const reason =
      (image.containerIds.length > 0
        ? `used by ${image.containerIds.length} container(s) in some state; containers are never removed to free images`
        : null) ??
      imageProtection(image, patterns, labels) ??
      (repo !== undefined ? `among the newest ${p.keepNewestTagsPerRepository} images of ${repo}` : null) ??
      (lastUsed && Date.parse(lastUsed) > cutoff
        ? `${image.lastUsedAt ? 'last used by a container' : 'created (never seen in use)'} at ${lastUsed}, less than ${p.minAgeDays} days ago`
        : null) ??
      (ctrd ? ctrd.rule(image) : multiRepoReason(image));
    if (reason) skipped.push(skip(image, reason));
    else items.push(toItem(image, ctrd));
  }
  return finish(inv, items, skipped);
}
