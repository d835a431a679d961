import path from 'node:path';
import type { Image, JobPlan, PlanItem } from '@ballast/shared';
import { readAirgapImages } from '../containerd/airgap.js';
import { type ContainerdClient, ContainerdError } from '../containerd/client.js';
import type { K3sPaths } from '../containerd/k3s.js';
import { collectContainerd, containerdInventoryParts, PINNED_LABEL } from '../containerd/scan.js';
import { errorMessage } from '../log.js';
import type { ActionOutcome } from './actions.js';
import { imageProtection } from './plan-images.js';

/** Image jobs on a host measured through containerd (k3s, Kubernetes, plain containerd). */
export interface ContainerdJobTarget {
  client: ContainerdClient;
  snapshotter: string;
  /** k3s paths (its air-gap images are protected); null on hosts without k3s. */
  k3sPaths: K3sPaths | null;
}

export type ImageRule = (image: Pick<Image, 'id' | 'repoTags' | 'repoDigests' | 'labels'>) => string | null;

/** The engine identity a plan is sealed with: containerd's server UUID and the namespace. */
export async function containerdEngineId(target: ContainerdJobTarget, signal?: AbortSignal): Promise<string> {
  return `containerd:${await target.client.serverUuid(signal)}/${target.client.namespace}`;
}

/**
 * What containerd hosts protect on top of the agent's own rules: images CRI pins (the sandbox
 * image: kubelet never removes them either) and images k3s imports from its air-gap directory
 * at every start (removing one would only make k3s import it again, and an offline node could
 * not pull it). An air-gap archive that cannot be read protects every image.
 */
export async function containerdImageRule(target: ContainerdJobTarget): Promise<ImageRule> {
  const dir = target.k3sPaths ? path.join(target.k3sPaths.dataDir, 'agent', 'images') : null;
  const airgap = dir ? await readAirgapImages(dir) : null;
  return (image) => {
    if (image.labels[PINNED_LABEL] === 'pinned') {
      return `pinned (${PINNED_LABEL}=pinned): CRI and kubelet never remove it`;
    }
    if (!airgap || !dir) return null;
    if (airgap.unreadable.length > 0) {
      return `k3s air-gap archives could not be read (${airgap.unreadable.join('; ')}): the images k3s imports at start are unknown, so none is removed`.slice(
        0,
        1000,
      );
    }
    const ref = image.repoTags.find((t) => airgap.names.has(t)) ?? image.repoDigests.find((d) => airgap.names.has(d));
    if (airgap.configDigests.has(image.id) || ref) {
      return `imported by k3s at every start from ${dir} (air-gap image${ref ? ` ${ref}` : ''})`;
    }
    return null;
  };
}

/**
 * Removes one image (every name pointing at its config digest) through containerd, after
 * re-reading the namespace: gone, now used by a container, protected, or tagged since a
 * dangling plan means it stays. The last name is deleted with `sync`, so containerd's garbage
 * collection has run (blobs and snapshots no longer referenced are gone) when this returns.
 */
export async function removeContainerdImage(
  target: ContainerdJobTarget,
  plan: JobPlan,
  item: PlanItem,
  rules: { patterns: string[]; labels: string[] },
  now: Date,
  signal?: AbortSignal,
): Promise<ActionOutcome> {
  const facts = await collectContainerd(target.client, {
    snapshotter: target.snapshotter,
    signal,
    walkWritable: false,
  });
  const parts = containerdInventoryParts({
    facts,
    address: target.client.socketPath,
    namespace: target.client.namespace,
    snapshotter: target.snapshotter,
    now,
    k3s: null,
    imageLastUsed: {},
  });
  const image = parts.images.find((i) => i.id === item.id);
  if (!image) return { outcome: 'skipped', reason: 'no longer exists with the planned ID', gone: true };
  if (image.containerIds.length > 0) {
    return { outcome: 'skipped', reason: `now used by container(s) ${image.containerIds.join(', ')}` };
  }
  const protection = imageProtection(image, rules.patterns, rules.labels) ?? (await containerdImageRule(target))(image);
  if (protection) return { outcome: 'skipped', reason: protection };
  if (plan.kind === 'images.pruneDangling' && image.repoTags.length > 0) {
    return { outcome: 'skipped', reason: `tagged since the plan (${image.repoTags[0]})` };
  }
  const names = parts.namesById.get(item.id) ?? [];
  for (const [i, name] of names.entries()) {
    try {
      await target.client.deleteImage(name, i === names.length - 1, signal);
    } catch (err) {
      // kubelet's image GC (or an operator) removed it meanwhile: the name is gone either way.
      if (err instanceof ContainerdError && err.notFound) continue;
      return { outcome: 'failed', reason: errorMessage(err) };
    }
  }
  return { outcome: 'done' };
}
