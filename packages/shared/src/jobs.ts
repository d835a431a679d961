// Remediation jobs: the closed set of kinds, their parameters, plans, results and states.
// Shared by the agent (which plans and executes), the server (which stores, approves and
// delivers) and the web pages. Kept free of relative imports so client bundles can load it.
import * as z from '@ballast/shared/zod';

export const JOB_KINDS = [
  'images.pruneDangling',
  'images.pruneUnused',
  'containers.pruneStopped',
  'buildCache.prune',
  'volumes.remove',
  'logs.truncate',
  'logs.configureRotation',
  'buildCache.configureGC',
  'k3s.configureImageGC',
  'k3s.configureLogRotation',
] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_KIND_LABELS: Record<JobKind, string> = {
  'images.pruneDangling': 'Remove dangling images',
  'images.pruneUnused': 'Remove unused images',
  'containers.pruneStopped': 'Remove stopped containers',
  'buildCache.prune': 'Prune build cache',
  'volumes.remove': 'Remove named volumes',
  'logs.truncate': 'Truncate a container log',
  'logs.configureRotation': 'Configure log rotation (daemon.json)',
  'buildCache.configureGC': 'Enable build cache garbage collection (daemon.json)',
  'k3s.configureImageGC': 'Set kubelet image GC thresholds (k3s config)',
  'k3s.configureLogRotation': 'Set kubelet container log rotation (k3s config)',
};

/** Kinds that change the engine's configuration rather than delete objects. */
export const CONFIG_JOB_KINDS: readonly JobKind[] = [
  'logs.configureRotation',
  'buildCache.configureGC',
  'k3s.configureImageGC',
  'k3s.configureLogRotation',
];

const glob = z.string().check(z.minLength(1), z.maxLength(256));
const labelRule = z.string().check(z.minLength(1), z.maxLength(256));
/** Docker size strings as log-opts and builder.gc accept them: 10m, 512k, 2g. */
export const ZDockerSize = z.string().check(z.regex(/^[1-9]\d{0,6}[kmg]$/, 'must look like 10m, 512k or 2g'));
const containerRef = z.string().check(z.regex(/^[a-f0-9]{64}$/, 'must be a full 64-character container ID'));
const volumeName = z.string().check(z.regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/, 'not a valid volume name'));

/** Parameters of each kind. Unknown keys are rejected (strict) so a typo never widens a job. */
export const ZJobParams = {
  'images.pruneDangling': z.strictObject({}),
  'images.pruneUnused': z.strictObject({
    /** Only images no container referenced for this many days by the agent's clock. */
    minAgeDays: z._default(z.int().check(z.gte(0), z.lte(3650)), 14),
    keepNewestTagsPerRepository: z._default(z.int().check(z.gte(0), z.lte(100)), 2),
    protectedImagePatterns: z._default(z.array(glob).check(z.maxLength(200)), []),
    protectedLabels: z._default(z.array(labelRule).check(z.maxLength(200)), []),
  }),
  'containers.pruneStopped': z.strictObject({
    /** Only containers that finished (or were created, if never started) this many days ago. */
    minAgeDays: z._default(z.int().check(z.gte(0), z.lte(3650)), 7),
    /** Glob over the container name (without the leading slash). */
    namePattern: z.optional(glob),
    /** Every rule must match (`key` or `key=value`). */
    labels: z._default(z.array(labelRule).check(z.maxLength(20)), []),
  }),
  'buildCache.prune': z.strictObject({
    /** Keep this much cache (bytes), pruning least recently used records first. */
    keepStorageBytes: z.optional(z.int().check(z.gte(0))),
    /** Only records unused for at least this many hours. */
    unusedForHours: z.optional(z.int().check(z.gte(0), z.lte(87_600))),
  }),
  'volumes.remove': z.strictObject({
    /** Exactly the volumes to remove, named one by one. */
    volumes: z.array(volumeName).check(z.minLength(1), z.maxLength(100)),
    /** Must be true: volumes hold data, and removing one is irreversible. */
    confirmDataLoss: z.literal(true, { error: 'volumes.remove needs confirmDataLoss: true' }),
  }),
  'logs.truncate': z.strictObject({
    containerId: containerRef,
  }),
  'logs.configureRotation': z.strictObject({
    maxSize: z._default(ZDockerSize, '10m'),
    maxFile: z._default(z.int().check(z.gte(1), z.lte(100)), 3),
  }),
  'buildCache.configureGC': z.strictObject({
    /** The budget BuildKit's garbage collector keeps the cache under. */
    keepStorage: z._default(ZDockerSize, '10g'),
  }),
  'k3s.configureImageGC': z
    .strictObject({
      /** kubelet removes unused images when the image filesystem is this full (percent). */
      highThresholdPercent: z._default(z.int().check(z.gte(1), z.lte(100)), 85),
      /** …down to this usage (percent); must be below the high threshold. */
      lowThresholdPercent: z._default(z.int().check(z.gte(0), z.lte(99)), 80),
    })
    .check(
      z.refine((p) => p.lowThresholdPercent < p.highThresholdPercent, {
        message: 'lowThresholdPercent must be below highThresholdPercent',
      }),
    ),
  'k3s.configureLogRotation': z.strictObject({
    /** kubelet's container-log-max-size: Ki, Mi or Gi. */
    maxSize: z._default(
      z.string().check(z.regex(/^[1-9]\d{0,5}(Ki|Mi|Gi)$/, 'must look like 10Mi, 512Ki or 1Gi')),
      '10Mi',
    ),
    /** kubelet's container-log-max-files (kubelet needs at least 2). */
    maxFiles: z._default(z.int().check(z.gte(2), z.lte(100)), 5),
  }),
} as const satisfies Record<JobKind, z.ZodMiniType>;

export type JobParams<K extends JobKind = JobKind> = z.output<(typeof ZJobParams)[K]>;

export const ZJobSpec = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('images.pruneDangling'), params: ZJobParams['images.pruneDangling'] }),
  z.strictObject({ kind: z.literal('images.pruneUnused'), params: ZJobParams['images.pruneUnused'] }),
  z.strictObject({ kind: z.literal('containers.pruneStopped'), params: ZJobParams['containers.pruneStopped'] }),
  z.strictObject({ kind: z.literal('buildCache.prune'), params: ZJobParams['buildCache.prune'] }),
  z.strictObject({ kind: z.literal('volumes.remove'), params: ZJobParams['volumes.remove'] }),
  z.strictObject({ kind: z.literal('logs.truncate'), params: ZJobParams['logs.truncate'] }),
  z.strictObject({ kind: z.literal('logs.configureRotation'), params: ZJobParams['logs.configureRotation'] }),
  z.strictObject({ kind: z.literal('buildCache.configureGC'), params: ZJobParams['buildCache.configureGC'] }),
  z.strictObject({ kind: z.literal('k3s.configureImageGC'), params: ZJobParams['k3s.configureImageGC'] }),
  z.strictObject({ kind: z.literal('k3s.configureLogRotation'), params: ZJobParams['k3s.configureLogRotation'] }),
]);
export type JobSpec = z.output<typeof ZJobSpec>;

export type JobSpecResult = { ok: true; spec: JobSpec } | { ok: false; message: string };

/** Validates a kind and its parameters (defaults filled in), with a readable error. */
export function parseJobSpec(kind: string, params: unknown): JobSpecResult {
  if (!(JOB_KINDS as readonly string[]).includes(kind)) {
    return { ok: false, message: `unknown job kind ${JSON.stringify(kind)} (known: ${JOB_KINDS.join(', ')})` };
  }
  const parsed = ZJobSpec.safeParse({ kind, params: params ?? {} });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.filter((p) => p !== 'params').join('.') : '';
    return { ok: false, message: `${kind}: ${where ? `${where}: ` : ''}${issue?.message ?? 'invalid parameters'}` };
  }
  return { ok: true, spec: parsed.data };
}

export const PLAN_OBJECT_TYPES = ['image', 'container', 'buildCache', 'volume', 'log', 'daemonConfig'] as const;
export type PlanObjectType = (typeof PLAN_OBJECT_TYPES)[number];

const bytes = z.int().check(z.nonnegative());
const isoTime = z.iso.datetime({ offset: true });

/** One object the plan will act on, with what it is expected to free. */
export const ZPlanItem = z.object({
  type: z.enum(PLAN_OBJECT_TYPES),
  /** Full ID (image sha256:…, container ID, cache record ID), volume name or file path. */
  id: z.string().check(z.minLength(1), z.maxLength(4096)),
  /** Human name: first tag, container name, volume name. */
  name: z.string().check(z.maxLength(1024)),
  /** Bytes removing this object frees on its own (exclusive bytes; never shared ones). */
  bytes,
  /** How `bytes` was measured, and anything the operator should know about this object. */
  note: z.optional(z.string().check(z.maxLength(1024))),
});
export type PlanItem = z.infer<typeof ZPlanItem>;

/** An object the plan considered and will not touch, and why. */
export const ZPlanSkip = z.object({
  type: z.enum(PLAN_OBJECT_TYPES),
  id: z.string().check(z.minLength(1), z.maxLength(4096)),
  name: z.string().check(z.maxLength(1024)),
  reason: z.string().check(z.maxLength(1024)),
});
export type PlanSkip = z.infer<typeof ZPlanSkip>;

/** A daemon.json change: the file as it is, as it would be, and where the backup goes. */
export const ZConfigChange = z.object({
  path: z.string().check(z.minLength(1), z.maxLength(4096)),
  before: z.nullable(z.string().check(z.maxLength(256 * 1024))),
  after: z.string().check(z.maxLength(256 * 1024)),
  backupPath: z.string().check(z.minLength(1), z.maxLength(4096)),
  /** Changes take effect only after the operator restarts the daemon; the agent never does. */
  restartRequired: z.boolean(),
});
export type ConfigChange = z.infer<typeof ZConfigChange>;

/** The dry run: exactly what execution will act on. Execution touches nothing else. */
export const ZJobPlan = z.object({
  jobId: z.string().check(z.minLength(1), z.maxLength(128)),
  kind: z.enum(JOB_KINDS),
  params: z.record(z.string(), z.unknown()),
  plannedAt: isoTime,
  /** The engine the plan was made on (Engine ID); execution refuses a different engine. */
  engineId: z.string().check(z.maxLength(256)),
  items: z.array(ZPlanItem).check(z.maxLength(20_000)),
  skipped: z.array(ZPlanSkip).check(z.maxLength(20_000)),
  /** Sum of items[].bytes. */
  totalBytes: bytes,
  /** Caveats for the whole plan (BuildKit cache still holding image layers, restart needed…). */
  notes: z.array(z.string().check(z.maxLength(2048))).check(z.maxLength(100)),
  configChange: z.nullable(ZConfigChange),
  /** Free bytes of the data root's filesystem when planned (statfs, f_bavail × f_frsize). */
  freeBytes: bytes,
  /** sha256 over the canonical JSON of everything above; execution checks it. */
  digest: z.string().check(z.regex(/^[a-f0-9]{64}$/)),
});
export type JobPlan = z.infer<typeof ZJobPlan>;

export const ITEM_OUTCOMES = ['done', 'skipped', 'failed'] as const;
export type ItemOutcome = (typeof ITEM_OUTCOMES)[number];

export const ZItemResult = z.object({
  type: z.enum(PLAN_OBJECT_TYPES),
  id: z.string().check(z.minLength(1), z.maxLength(4096)),
  name: z.string().check(z.maxLength(1024)),
  outcome: z.enum(ITEM_OUTCOMES),
  /** Bytes the plan expected this object to free (0 when skipped or failed). */
  bytes,
  /** Why it was skipped or failed. */
  reason: z.optional(z.string().check(z.maxLength(2048))),
});
export type ItemResult = z.infer<typeof ZItemResult>;

export const ZJobResult = z.object({
  jobId: z.string().check(z.minLength(1), z.maxLength(128)),
  status: z.enum(['succeeded', 'partial', 'failed']),
  startedAt: isoTime,
  finishedAt: isoTime,
  items: z.array(ZItemResult).check(z.maxLength(40_000)),
  /** Sum of items[].bytes with outcome done. */
  bytesFreed: bytes,
  /** What the engine said it reclaimed (SpaceReclaimed), where it says anything. */
  engineReportedBytes: z.nullable(bytes),
  /** statfs free bytes of the data root's filesystem right before and right after. */
  freeBytesBefore: bytes,
  freeBytesAfter: bytes,
  /** Set when the whole job failed before or while acting. */
  error: z.optional(z.string().check(z.maxLength(4096))),
});
export type JobResult = z.infer<typeof ZJobResult>;

export const JOB_STATES = [
  'requested',
  'planning',
  'planned',
  'approved',
  'running',
  'succeeded',
  'partial',
  'failed',
  'cancelled',
  'expired',
  'unknown',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'partial', 'failed', 'cancelled', 'expired'];

/**
 * Allowed transitions. `unknown` is where a job goes when its agent went silent while it
 * was running; it leaves `unknown` only when the agent reports the stored result.
 */
export const JOB_TRANSITIONS: Record<JobState, readonly JobState[]> = {
  requested: ['planning', 'cancelled', 'expired', 'failed'],
  planning: ['planned', 'failed', 'cancelled', 'expired'],
  planned: ['approved', 'cancelled', 'expired'],
  approved: ['running', 'cancelled', 'expired', 'failed'],
  running: ['succeeded', 'partial', 'failed', 'unknown'],
  succeeded: [],
  partial: [],
  failed: [],
  cancelled: [],
  expired: [],
  unknown: ['succeeded', 'partial', 'failed'],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

/** Why an agent refused a job without planning or executing it. */
export const JOB_REJECT_CODES = [
  /** Remediation or this kind is disabled in the agent's own config. */
  'disabled',
  /** Another remediation is running on this host. */
  'busy',
  /** Parameters or plan failed validation on the agent. */
  'invalid',
  /** The plan to execute is not the one this agent produced (digest or engine mismatch). */
  'plan_mismatch',
  /** The job's deadline passed before it could start. */
  'expired',
] as const;
export type JobRejectCode = (typeof JOB_REJECT_CODES)[number];

/** The agent capability naming a kind it will accept, e.g. `job:images.pruneDangling`. */
export function jobCapability(kind: JobKind): string {
  return `job:${kind}`;
}
