import { type JobPlan, type JobSpec, ZJobPlan } from '@ballast/shared';
import { planDigest } from './canonical.js';
import { containerdEngineId, containerdImageRule } from './containerd-images.js';
import { planConfigureGC, planConfigureRotation } from './daemon-config.js';
import { planK3sKubeletFlags } from './k3s-config.js';
import { hostRefusal } from './kinds.js';
import { planBuildCachePrune } from './plan-build-cache.js';
import { planPruneStopped } from './plan-containers.js';
import { planPruneDangling, planPruneUnused } from './plan-images.js';
import { planTruncateLog } from './plan-logs.js';
import { planRemoveVolumes } from './plan-volumes.js';
import { type JobEnv, JobRefusal, type PlanDraft } from './types.js';

/** The engine a plan is sealed with: Docker's engine ID, or containerd's server UUID and namespace. */
export async function engineIdentity(env: JobEnv, signal?: AbortSignal): Promise<string> {
  if (env.containerd) return containerdEngineId(env.containerd, signal);
  await env.client.negotiate(signal);
  return env.client.engineId(signal);
}

async function draft(env: JobEnv, jobId: string, spec: JobSpec, signal?: AbortSignal): Promise<PlanDraft> {
  const policy = env.remediation;
  const now = env.now();
  const refusal = hostRefusal(env, spec.kind);
  if (refusal) throw new JobRefusal('invalid', refusal);
  const ctrd = env.containerd
    ? { engine: 'containerd' as const, rule: await containerdImageRule(env.containerd) }
    : undefined;
  switch (spec.kind) {
    case 'images.pruneDangling':
      return planPruneDangling(await env.measure(signal), spec, policy, ctrd);
    case 'images.pruneUnused':
      return planPruneUnused(await env.measure(signal), spec, policy, now, ctrd);
    case 'containers.pruneStopped':
      return planPruneStopped(await env.measure(signal), spec, policy, now);
    case 'buildCache.prune':
      return planBuildCachePrune(await env.client.buildCacheRecords(signal), spec, now);
    case 'volumes.remove':
      return planRemoveVolumes(await env.measure(signal), spec, policy);
    case 'logs.truncate':
      return planTruncateLog(await env.measure(signal), spec, policy);
    case 'logs.configureRotation':
      return planConfigureRotation(policy.daemonConfigFile, jobId, await env.measure(signal), spec);
    case 'buildCache.configureGC':
      return planConfigureGC(policy.daemonConfigFile, jobId, spec);
    case 'k3s.configureImageGC':
    case 'k3s.configureLogRotation':
      return planK3sKubeletFlags(env.containerd?.k3sPaths ?? null, jobId, spec);
  }
}

/** The dry run: measures, decides every object, and seals the plan with its digest. */
export async function makePlan(env: JobEnv, jobId: string, spec: JobSpec, signal?: AbortSignal): Promise<JobPlan> {
  const engineId = await engineIdentity(env, signal);
  const d = await draft(env, jobId, spec, signal);
  const free = await env.freeSpace(spec.kind, signal);
  const body = {
    jobId,
    kind: spec.kind,
    params: spec.params as Record<string, unknown>,
    plannedAt: env.now().toISOString(),
    engineId,
    items: d.items,
    skipped: d.skipped,
    totalBytes: d.items.reduce((sum, i) => sum + i.bytes, 0),
    notes: d.notes,
    configChange: d.configChange,
    freeBytes: free,
  };
  // Round-trip through the schema so the digest covers exactly what a receiver will parse.
  const parsed = ZJobPlan.parse({ ...body, digest: '0'.repeat(64) });
  return { ...parsed, digest: planDigest(parsed) };
}
