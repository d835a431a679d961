import type { Container, Image, Inventory } from '../inventory.js';
import { contentOpportunities } from './content.js';
import type { OpportunityKind } from './kinds.js';
import { globToRegExp, matchesLabel, monthlyCost, priceForHost, type SavingsPolicy } from './policy.js';

export { OPPORTUNITY_KINDS, type OpportunityKind } from './kinds.js';

export type Risk = 'low' | 'medium' | 'high';
/** exact: the bytes leave the disk; partial: some may stay held elsewhere (caveats say where). */
export type Confidence = 'exact' | 'partial';

export interface OpportunityObject {
  id: string;
  name: string;
  bytes: number;
  note?: string;
}

export interface Opportunity {
  kind: OpportunityKind;
  title: string;
  reclaimableBytes: number;
  monthlyCost: number;
  risk: Risk;
  confidence: Confidence;
  /** The remediation job that would realise it; null when only a human can decide. */
  action: { kind: string; params: Record<string, unknown> } | null;
  /** False for actions that must never be selected by default (volumes). */
  defaultSelected: boolean;
  explanation: string;
  caveats: string[];
  objects: OpportunityObject[];
}

const DAY_MS = 86_400_000;

const imageName = (image: Image) => image.repoTags[0] ?? `${image.id.slice(7, 19)} (untagged)`;
const repositoryOf = (tag: string) =>
  tag.slice(0, tag.lastIndexOf(':') > tag.lastIndexOf('/') ? tag.lastIndexOf(':') : undefined);

/**
 * Bytes freed by deleting a set of images together: every layer whose users all belong to
 * the set. This can exceed the sum of each image's exclusive bytes, since layers shared
 * only among the removed images go too.
 */
export function bytesFreedByRemovingImages(inventory: Inventory, imageIds: ReadonlySet<string>): number {
  let bytes = 0;
  for (const layer of inventory.layers) {
    if (layer.imageIds.length > 0 && layer.imageIds.every((id) => imageIds.has(id))) bytes += layer.sizeBytes;
  }
  return bytes;
}

function protectedImage(image: Image, policy: SavingsPolicy, patterns: RegExp[]): string | null {
  const label = matchesLabel(image.labels, policy.protectedLabels);
  if (label) return `label ${label}`;
  for (const tag of image.repoTags) {
    const pattern = patterns.find((p) => p.test(tag));
    if (pattern) return `pattern ${pattern.source}`;
  }
  return null;
}

/** The newest N images of each repository (by creation time) are rollback targets. */
function rollbackTargets(images: readonly Image[], keep: number): Set<string> {
  const byRepository = new Map<string, Image[]>();
  for (const image of images) {
    for (const repository of new Set(image.repoTags.map(repositoryOf))) {
      const list = byRepository.get(repository) ?? [];
      list.push(image);
      byRepository.set(repository, list);
    }
  }
  const kept = new Set<string>();
  for (const list of byRepository.values()) {
    list.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
    for (const image of list.slice(0, keep)) kept.add(image.id);
  }
  return kept;
}

function imageOpportunity(
  inventory: Inventory,
  policy: SavingsPolicy,
  kind: 'images.dangling' | 'images.unused',
  candidates: Image[],
  base: Omit<Opportunity, 'reclaimableBytes' | 'monthlyCost' | 'confidence' | 'caveats' | 'objects' | 'kind'>,
): Opportunity | null {
  if (candidates.length === 0) return null;
  const price = priceForHost(policy, inventory.host.labels);
  const reclaimableBytes = bytesFreedByRemovingImages(inventory, new Set(candidates.map((i) => i.id)));
  const held = candidates.filter((i) => i.buildCacheHeld);
  const caveats: string[] = [];
  if (held.length > 0) {
    caveats.push(
      `${held.length} of these images were built with BuildKit and its cache may still hold their layers: their bytes come back only with a build-cache prune.`,
    );
  }
  return {
    ...base,
    kind,
    reclaimableBytes,
    monthlyCost: monthlyCost(reclaimableBytes, price),
    confidence: held.length > 0 ? 'partial' : 'exact',
    caveats,
    objects: candidates
      .map((image) => ({
        id: image.id,
        name: imageName(image),
        bytes: image.exclusiveBytes,
        ...(image.buildCacheHeld ? { note: 'layers may be held by build cache' } : {}),
      }))
      .sort((a, b) => b.bytes - a.bytes),
  };
}

function stoppedSince(container: Container): number | null {
  const when = container.state === 'created' ? container.createdAt : container.finishedAt;
  if (!when) return null;
  const time = Date.parse(when);
  // Docker reports never-finished containers as 0001-01-01.
  return Number.isFinite(time) && time > 0 ? time : null;
}

function parseSize(size: string): number {
  const unit = size.slice(-1);
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : 1024 ** 3;
  return Number(size.slice(0, -1)) * factor;
}

/**
 * Per-host savings opportunities, in exact bytes. Only bytes the action would really free
 * are counted: exclusive layers of removed images, never shared ones.
 */
export function computeOpportunities(inventory: Inventory, policy: SavingsPolicy, now: Date): Opportunity[] {
  const opportunities: Opportunity[] = [];
  const patterns = policy.protectedImagePatterns.map(globToRegExp);
  const nowMs = now.getTime();
  /** The host's group price (by the policy's group label), else the organization's. */
  const price = priceForHost(policy, inventory.host.labels);

  const dangling = inventory.images.filter(
    (i) => i.dangling && i.containerIds.length === 0 && !protectedImage(i, policy, patterns),
  );
  const danglingOpportunity = imageOpportunity(inventory, policy, 'images.dangling', dangling, {
    title: `${dangling.length} dangling image${dangling.length === 1 ? '' : 's'}`,
    risk: 'low',
    action: { kind: 'images.pruneDangling', params: {} },
    defaultSelected: true,
    explanation:
      'Untagged images with no children and no container in any state. Bytes are the layers no other image or container uses (layerdb size, the figure docker system df uses).',
  });
  if (danglingOpportunity) opportunities.push(danglingOpportunity);

  const minAgeMs = policy.unusedImageMinAgeDays * DAY_MS;
  const tagged = inventory.images.filter((i) => !i.dangling && i.repoTags.length > 0);
  const rollback = rollbackTargets(tagged, policy.keepNewestTagsPerRepository);
  const unused = tagged.filter((image) => {
    if (image.containerIds.length > 0 || rollback.has(image.id)) return false;
    if (protectedImage(image, policy, patterns)) return false;
    const lastUsed = image.lastUsedAt ?? image.createdAt;
    return lastUsed !== null && nowMs - Date.parse(lastUsed) >= minAgeMs;
  });
  const unusedOpportunity = imageOpportunity(inventory, policy, 'images.unused', unused, {
    title: `${unused.length} image${unused.length === 1 ? '' : 's'} unused for ${policy.unusedImageMinAgeDays}+ days`,
    risk: 'medium',
    action: {
      kind: 'images.pruneUnused',
      params: {
        minAgeDays: policy.unusedImageMinAgeDays,
        keepNewestTagsPerRepository: policy.keepNewestTagsPerRepository,
        protectedImagePatterns: policy.protectedImagePatterns,
        protectedLabels: policy.protectedLabels,
      },
    },
    defaultSelected: true,
    explanation: `Tagged images that no container uses in any state, not referenced by a container for ${policy.unusedImageMinAgeDays} days by the agent's clock (or built that long ago if never seen in use), not protected, and not among the newest ${policy.keepNewestTagsPerRepository} of their repository.`,
  });
  if (unusedOpportunity) opportunities.push(unusedOpportunity);

  const stoppedMinMs = policy.stoppedContainerMinAgeDays * DAY_MS;
  const stopped = inventory.containers.filter((c) => {
    if (!['exited', 'created', 'dead'].includes(c.state)) return false;
    if (matchesLabel(c.labels, policy.protectedLabels)) return false;
    const since = stoppedSince(c);
    return since !== null && nowMs - since >= stoppedMinMs;
  });
  if (stopped.length > 0) {
    const objects = stopped
      .map((c) => ({ id: c.id, name: c.name, bytes: (c.writableBytes ?? 0) + c.logBytes }))
      .sort((a, b) => b.bytes - a.bytes);
    const reclaimableBytes = objects.reduce((sum, o) => sum + o.bytes, 0);
    const unmeasured = stopped.filter((c) => c.writableBytes === null).length;
    opportunities.push({
      kind: 'containers.stopped',
      title: `${stopped.length} container${stopped.length === 1 ? '' : 's'} stopped for ${policy.stoppedContainerMinAgeDays}+ days`,
      reclaimableBytes,
      monthlyCost: monthlyCost(reclaimableBytes, price),
      risk: 'medium',
      confidence: unmeasured > 0 ? 'partial' : 'exact',
      action: { kind: 'containers.pruneStopped', params: { minAgeDays: policy.stoppedContainerMinAgeDays } },
      defaultSelected: true,
      explanation:
        'Writable layer (apparent bytes, as docker ps -s) plus log files (stat size) of containers exited or never started that long ago.',
      caveats: [
        'Removing these containers unprotects their images, which may then become unused.',
        ...(unmeasured > 0 ? [`${unmeasured} writable layers are not measured yet and count as 0.`] : []),
      ],
      objects,
    });
  }

  const builderVolumes = inventory.volumes.filter((v) => v.buildkitState && v.containerIds.length === 0);
  const buildCacheBytes = inventory.buildCache.measured ? inventory.buildCache.reclaimableBytes : 0;
  const builderBytes = builderVolumes.reduce((sum, v) => sum + (v.sizeBytes ?? 0), 0);
  if (buildCacheBytes + builderBytes > 0) {
    const reclaimableBytes = buildCacheBytes + builderBytes;
    opportunities.push({
      kind: 'buildCache.reclaimable',
      title: 'Reclaimable build cache',
      reclaimableBytes,
      monthlyCost: monthlyCost(reclaimableBytes, price),
      risk: 'low',
      confidence: 'exact',
      action: { kind: 'buildCache.prune', params: {} },
      defaultSelected: true,
      explanation:
        'BuildKit records not in use and not shared with images (docker system df Build Cache RECLAIMABLE), plus state volumes of stopped buildx builders.',
      caveats: ['The next build that needed this cache runs slower.'],
      objects: [
        { id: 'build-cache', name: `${inventory.buildCache.records} BuildKit records`, bytes: buildCacheBytes },
        ...builderVolumes.map((v) => ({
          id: v.name,
          name: v.name,
          bytes: v.sizeBytes ?? 0,
          note: 'buildx builder state volume',
        })),
      ],
    });
  }

  const unusedVolumes = inventory.volumes.filter(
    (v) => v.containerIds.length === 0 && !v.buildkitState && !matchesLabel(v.labels, policy.protectedLabels),
  );
  if (unusedVolumes.length > 0) {
    const objects = unusedVolumes
      .map((v) => ({
        id: v.name,
        name: v.name,
        bytes: v.sizeBytes ?? 0,
        ...(v.anonymous ? { note: 'anonymous' } : {}),
      }))
      .sort((a, b) => b.bytes - a.bytes);
    const reclaimableBytes = objects.reduce((sum, o) => sum + o.bytes, 0);
    opportunities.push({
      kind: 'volumes.unused',
      title: `${unusedVolumes.length} volume${unusedVolumes.length === 1 ? '' : 's'} no container references`,
      reclaimableBytes,
      monthlyCost: monthlyCost(reclaimableBytes, price),
      risk: 'high',
      confidence: 'exact',
      action: null,
      defaultSelected: false,
      explanation: 'Volumes referenced by no container in any state; size is a walk of the volume (apparent bytes).',
      caveats: ['Volumes hold data; removing one is irreversible and only done for volumes named one by one.'],
      objects,
    });
  }

  const cap = parseSize(policy.logMaxSize) * policy.logMaxFile;
  const unbounded = inventory.containers.filter((c) => c.logDriver === 'json-file' && !c.logRotation && c.logBytes > 0);
  if (unbounded.length > 0) {
    const objects = unbounded
      .map((c) => ({ id: c.id, name: c.name, bytes: Math.max(0, c.logBytes - cap) }))
      .sort((a, b) => b.bytes - a.bytes);
    const reclaimableBytes = objects.reduce((sum, o) => sum + o.bytes, 0);
    opportunities.push({
      kind: 'logs.unbounded',
      title: `${unbounded.length} container${unbounded.length === 1 ? '' : 's'} with unbounded logs`,
      reclaimableBytes,
      monthlyCost: monthlyCost(reclaimableBytes, price),
      risk: 'low',
      confidence: 'exact',
      action: { kind: 'logs.configureRotation', params: { maxSize: policy.logMaxSize, maxFile: policy.logMaxFile } },
      defaultSelected: true,
      explanation: `json-file logs without max-size grow forever. Bytes are what a cap of ${policy.logMaxFile} × ${policy.logMaxSize} would have kept off the disk (stat size of the log files minus the cap).`,
      caveats: [
        'Rotation settings apply only to containers created after the daemon restarts; existing ones keep unbounded logs until recreated.',
      ],
      objects,
    });
  }

  opportunities.push(...contentOpportunities(inventory, policy));

  return opportunities.sort((a, b) => b.reclaimableBytes - a.reclaimableBytes);
}
