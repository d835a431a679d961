import { truncate } from 'node:fs/promises';
import path from 'node:path';
import type { JobPlan, PlanItem } from '@ballast/shared';
import { findLogFiles } from '../collectors/logs.js';
import { DockerError } from '../docker/client.js';
import { removeContainerdImage } from './containerd-images.js';
import { applyConfigChange } from './daemon-config.js';
import { applyK3sChange } from './k3s-config.js';
import { recordParents } from './plan-build-cache.js';
import { STOPPED_STATES } from './plan-containers.js';
import { imageProtection } from './plan-images.js';
import { truncationRefusal } from './plan-logs.js';
import { protectedByLabel } from './policy.js';
import type { JobEnv } from './types.js';

export type ActionOutcome =
  | { outcome: 'done'; engineBytes?: number }
  | { outcome: 'skipped' | 'failed'; reason: string; gone?: boolean };

const skipped = (reason: string): ActionOutcome => ({ outcome: 'skipped', reason });
/** The object is not there (any more): after an interrupted action on it, that means done. */
const gone = (reason: string): ActionOutcome => ({ outcome: 'skipped', reason, gone: true });

/** The engine refused (in use, conflict): the object stays, which is a skip, not a failure. */
function refusal(err: unknown): ActionOutcome {
  if (err instanceof DockerError && err.status === 409) return skipped(`the engine refused: ${err.message}`);
  if (err instanceof DockerError && err.status === 404) return gone('already gone');
  return { outcome: 'failed', reason: err instanceof Error ? err.message : String(err) };
}

async function removeImage(env: JobEnv, plan: JobPlan, item: PlanItem, signal?: AbortSignal): Promise<ActionOutcome> {
  if (env.containerd) {
    const params = plan.params as { protectedImagePatterns?: string[]; protectedLabels?: string[] };
    return removeContainerdImage(
      env.containerd,
      plan,
      item,
      {
        patterns: [...env.remediation.protectedImagePatterns, ...(params.protectedImagePatterns ?? [])],
        labels: [...env.remediation.protectedLabels, ...(params.protectedLabels ?? [])],
      },
      env.now(),
      signal,
    );
  }
  const image = await env.client.inspectImage(item.id, signal);
  if (!image || image.Id !== item.id) return gone('no longer exists with the planned ID');
  const users = (await env.client.listContainers(signal)).filter((c) => c.ImageID === item.id);
  if (users.length > 0) {
    return skipped(
      `now used by container(s) ${users.map((c) => `${c.Names[0] ?? c.Id.slice(0, 12)} (${c.State})`).join(', ')}`,
    );
  }
  const summary = (await env.client.listImages(signal)).find((i) => i.Id === item.id);
  const tags = summary?.RepoTags.filter((t) => t !== '<none>:<none>') ?? [];
  const digests = summary?.RepoDigests.filter((d) => d !== '<none>@<none>') ?? [];
  const params = plan.params as { protectedImagePatterns?: string[]; protectedLabels?: string[] };
  const protection = imageProtection(
    { id: item.id, repoTags: tags, repoDigests: digests, labels: summary?.Labels ?? {} },
    [...env.remediation.protectedImagePatterns, ...(params.protectedImagePatterns ?? [])],
    [...env.remediation.protectedLabels, ...(params.protectedLabels ?? [])],
  );
  if (protection) return skipped(protection);
  if (plan.kind === 'images.pruneDangling' && tags.length > 0) return skipped(`tagged since the plan (${tags[0]})`);
  try {
    const answer = await env.client.removeImage(item.id, signal);
    return answer.some((a) => a.Deleted === item.id)
      ? { outcome: 'done' }
      : skipped('the engine untagged it but did not delete it');
  } catch (err) {
    return refusal(err);
  }
}

async function removeContainer(env: JobEnv, item: PlanItem, signal?: AbortSignal): Promise<ActionOutcome> {
  const c = await env.client.inspectContainer(item.id, signal);
  if (!c || c.Id !== item.id) return gone('no longer exists');
  if (!STOPPED_STATES.has(c.State.Status)) return skipped(`is ${c.State.Status} now`);
  const summary = (await env.client.listContainers(signal)).find((x) => x.Id === item.id);
  const protection = protectedByLabel(env.remediation.protectedLabels, summary?.Labels ?? {});
  if (protection) return skipped(protection);
  try {
    await env.client.removeContainer(item.id, signal);
    return { outcome: 'done' };
  } catch (err) {
    return refusal(err);
  }
}

async function removeVolume(env: JobEnv, item: PlanItem, signal?: AbortSignal): Promise<ActionOutcome> {
  const volume = (await env.client.listVolumes(signal)).find((v) => v.Name === item.id);
  if (!volume) return gone('no longer exists');
  const users = await env.client.containersUsingVolume(item.id, signal);
  if (users.length > 0)
    return skipped(`now referenced by container(s) ${users.map((c) => c.Id.slice(0, 12)).join(', ')}`);
  const protection = protectedByLabel(env.remediation.protectedLabels, volume.Labels);
  if (protection) return skipped(protection);
  try {
    await env.client.removeVolume(item.id, signal);
    return { outcome: 'done' };
  } catch (err) {
    return refusal(err);
  }
}

async function pruneRecord(env: JobEnv, item: PlanItem, signal?: AbortSignal): Promise<ActionOutcome> {
  const records = await env.client.buildCacheRecords(signal);
  const record = records.find((r) => r.ID === item.id);
  if (!record) return gone('no longer exists');
  if (record.InUse) return skipped('in use by a build now');
  const child = records.find((r) => recordParents(r).includes(item.id));
  if (child) return skipped(`record ${child.ID} builds on it`);
  try {
    const answer = await env.client.pruneBuildCacheRecord(item.id, signal);
    return answer.CachesDeleted.includes(item.id)
      ? { outcome: 'done', engineBytes: answer.SpaceReclaimed }
      : skipped('BuildKit kept it');
  } catch (err) {
    return refusal(err);
  }
}

async function truncateLog(env: JobEnv, plan: JobPlan, item: PlanItem, signal?: AbortSignal): Promise<ActionOutcome> {
  const id = (plan.params as { containerId: string }).containerId;
  const c = await env.client.inspectContainer(id, signal);
  if (!c || c.Id !== id) return skipped('the container no longer exists');
  const root = await env.dataRoot(signal);
  const containerDir = path.join(root.localPath, 'containers', id);
  const logFiles = await findLogFiles(containerDir, id);
  const summary = (await env.client.listContainers(signal)).find((x) => x.Id === id);
  const refusalReason =
    protectedByLabel(env.remediation.protectedLabels, summary?.Labels ?? {}) ??
    truncationRefusal({
      id,
      state: c.State.Status,
      logDriver: c.HostConfig.LogConfig.Type ?? 'json-file',
      logOptions: c.HostConfig.LogConfig.Config,
      logFiles,
    });
  if (refusalReason) return skipped(refusalReason);
  if (!logFiles.some((f) => f.path === item.id))
    return skipped('the planned log file is not this container’s live log');
  await truncate(item.id, 0);
  return { outcome: 'done' };
}

/** Re-checks one planned object right before acting, then acts on it alone. */
export async function act(env: JobEnv, plan: JobPlan, item: PlanItem, signal?: AbortSignal): Promise<ActionOutcome> {
  switch (item.type) {
    case 'image':
      return removeImage(env, plan, item, signal);
    case 'container':
      return removeContainer(env, item, signal);
    case 'volume':
      return removeVolume(env, item, signal);
    case 'buildCache':
      return pruneRecord(env, item, signal);
    case 'log':
      return truncateLog(env, plan, item, signal);
    case 'daemonConfig': {
      if (!plan.configChange || plan.configChange.path !== item.id) return skipped('the plan has no matching change');
      try {
        if (plan.kind.startsWith('k3s.')) await applyK3sChange(plan.configChange);
        else await applyConfigChange(plan.configChange);
        return { outcome: 'done' };
      } catch (err) {
        return { outcome: 'failed', reason: (err as Error).message };
      }
    }
  }
}
