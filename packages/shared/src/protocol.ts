import * as z from '@ballast/shared/zod';
import { ZInventoryDelta } from './delta.js';
import { ZInventory } from './inventory.js';
import { JOB_KINDS, JOB_REJECT_CODES, ZItemResult, ZJobPlan, ZJobResult } from './jobs.js';

/**
 * Agent <-> server protocol, version 1. Every frame is one JSON object `{ v, type, ... }`.
 * The set of types is closed: a frame whose type is not listed here is rejected, never
 * passed through.
 */
export const PROTOCOL_VERSION = 1;
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1];

/** The WebSocket path agents connect to. */
export const AGENT_WS_PATH = '/agent/v1/ws';

/** Largest frame either side accepts; a full inventory of a busy host is well under this. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** WebSocket close codes (4000-4999 is the application range). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  frameTooLarge: 1009,
  badFrame: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  unsupportedVersion: 4426,
  helloTimeout: 4408,
  serverError: 4500,
} as const;

const v = z.literal(PROTOCOL_VERSION);
const count = z.int().check(z.nonnegative());
const isoTime = z.iso.datetime({ offset: true });

export const ZHello = z.object({
  v,
  type: z.literal('hello'),
  agentVersion: z.string().check(z.maxLength(64)),
  machineId: z.string().check(z.minLength(1), z.maxLength(128)),
  hostname: z.string().check(z.minLength(1), z.maxLength(255)),
  capabilities: z.array(z.string().check(z.maxLength(64))).check(z.maxLength(64)),
});

/**
 * A stream is one agent installation's sequence of readings: a random ID the agent keeps in its
 * state directory with the last seq it assigned, so seqs only grow across restarts and
 * reconnects. A reinstalled agent (empty state directory) starts a new stream.
 */
const stream = z.string().check(z.regex(/^[A-Za-z0-9_-]{8,64}$/, 'stream must be 8 to 64 characters of [A-Za-z0-9_-]'));
const seq = z.int().check(z.nonnegative(), z.lte(Number.MAX_SAFE_INTEGER));

/**
 * A full inventory. The server stores it unless it already has this seq of this stream (a
 * re-sent frame): either way it answers `ack` with the seq.
 */
export const ZSnapshot = z.object({
  v,
  type: z.literal('snapshot'),
  stream,
  seq,
  inventory: ZInventory,
});

/**
 * The changes since the reading with `baseSeq` of the same stream (see delta.ts). The server
 * applies it only on top of exactly that reading; otherwise it answers `resync` and the agent
 * sends a full snapshot. A seq it already has is acked without being applied again.
 */
export const ZDelta = z.object({
  v,
  type: z.literal('delta'),
  stream,
  seq,
  baseSeq: seq,
  delta: ZInventoryDelta,
});

export const ZHeartbeat = z.object({
  v,
  type: z.literal('heartbeat'),
  sentAt: isoTime,
});

const jobId = z.string().check(z.minLength(1), z.maxLength(128));

/** The dry run for a `job.plan` request. Sent again, unchanged, when the request is re-delivered. */
export const ZJobPlanned = z.object({ v, type: z.literal('job.planned'), jobId, plan: ZJobPlan });

/** One object acted on; `done` of `total` objects handled so far. */
export const ZJobProgress = z.object({
  v,
  type: z.literal('job.progress'),
  jobId,
  done: count,
  total: count,
  item: z.nullable(ZItemResult),
});

/** The outcome of a `job.execute`; the agent's ledger answers a re-delivered job with the same result. */
export const ZJobResultMessage = z.object({ v, type: z.literal('job.result'), jobId, result: ZJobResult });

/** The agent refused to plan or execute, acting on nothing. */
export const ZJobRejected = z.object({
  v,
  type: z.literal('job.rejected'),
  jobId,
  phase: z.enum(['plan', 'execute']),
  code: z.enum(JOB_REJECT_CODES),
  message: z.string().check(z.maxLength(4096)),
});

export const ZAgentMessage = z.discriminatedUnion('type', [
  ZHello,
  ZSnapshot,
  ZDelta,
  ZHeartbeat,
  ZJobPlanned,
  ZJobProgress,
  ZJobResultMessage,
  ZJobRejected,
]);
export type AgentMessage = z.infer<typeof ZAgentMessage>;

export const ZWelcome = z.object({
  v,
  type: z.literal('welcome'),
  hostId: z.string(),
  serverVersion: z.string(),
  /** The agent version this server publishes (its download); `ballast-agent upgrade` installs it. */
  agentVersion: z.optional(z.string()),
  /** How often the server wants a snapshot, in seconds. */
  snapshotIntervalSeconds: z.int().check(z.positive()),
});

/** The snapshot or delta with this seq is stored (now, or before: a re-sent frame). */
export const ZAck = z.object({
  v,
  type: z.literal('ack'),
  seq,
});

/**
 * The delta with `seq` does not apply: the server holds another reading than its base (a gap, a
 * new stream, or a store that lost it). Nothing was stored; the agent sends a full snapshot.
 */
export const ZResync = z.object({
  v,
  type: z.literal('resync'),
  seq,
  reason: z.string().check(z.maxLength(512)),
});

export const ZServerError = z.object({
  v,
  type: z.literal('error'),
  code: z.enum(['bad_frame', 'unknown_type', 'not_ready', 'ingest_failed', 'unsupported_version', 'busy']),
  message: z.string(),
  /** The snapshot or delta this error refers to, when there is one. */
  seq: z.optional(count),
  /**
   * With `busy`: the server's ingest queue is full and the reading was not stored. The agent
   * sends no reading for at least this long, then sends the same frame again and the readings
   * spooled after it.
   */
  retryAfterSeconds: z.optional(z.int().check(z.positive(), z.lte(3600))),
  /**
   * With `busy`, to an agent announcing `INGEST_PROCEED_CAPABILITY`: the agent holds a place in
   * the server's line and is sent `proceed` when a place in the queue is kept for it; it waits
   * for that rather than for `retryAfterSeconds` (see `PROCEED_GRACE_SECONDS`).
   */
  queued: z.optional(z.boolean()),
});

/**
 * The agent announces that it waits for `proceed` after a `busy` answered with `queued`. A
 * reconnect storm then drains as a steady stream in arrival order: each place that frees in the
 * server's ingest queue is kept for the next agent in line, none is left idle while agents
 * wait out estimated back-offs, and no agent is refused twice.
 */
export const INGEST_PROCEED_CAPABILITY = 'ingest.proceed.v1';

/**
 * How long past `retryAfterSeconds` a queued agent waits for `proceed` before sending the frame
 * again anyway (a server restarted meanwhile, or one that lost count). After a reconnect the
 * place in line is lost and only `retryAfterSeconds` holds.
 */
export const PROCEED_GRACE_SECONDS = 120;

/**
 * A place in the ingest queue is kept for this agent: send the refused reading (or the oldest
 * unacked one) now. The place is released if no reading arrives within `withinSeconds`.
 */
export const ZProceed = z.object({
  v,
  type: z.literal('proceed'),
  withinSeconds: z.int().check(z.positive(), z.lte(3600)),
});

/** Asks the agent for a dry run. Delivered at least once; the agent answers by jobId. */
export const ZJobPlanRequest = z.object({
  v,
  type: z.literal('job.plan'),
  jobId,
  kind: z.enum(JOB_KINDS),
  params: z.record(z.string(), z.unknown()),
  /** After this the agent refuses to start the job (code `expired`). */
  deadline: isoTime,
});

/** Executes an approved plan, exactly as the agent produced it. Delivered at least once. */
export const ZJobExecute = z.object({
  v,
  type: z.literal('job.execute'),
  jobId,
  plan: ZJobPlan,
  deadline: isoTime,
});

export const ZServerMessage = z.discriminatedUnion('type', [
  ZWelcome,
  ZAck,
  ZResync,
  ZServerError,
  ZProceed,
  ZJobPlanRequest,
  ZJobExecute,
]);
export type ServerMessage = z.infer<typeof ZServerMessage>;

export type ParseResult<T> =
  | { ok: true; message: T }
  | { ok: false; code: 'bad_frame' | 'unknown_type' | 'unsupported_version'; message: string };

export type EnvelopeResult =
  | { ok: true; type: string; value: Record<string, unknown> }
  | { ok: false; code: 'bad_frame' | 'unknown_type' | 'unsupported_version'; message: string };

/**
 * The cheap half of parsing: size, JSON, version and a known type, without the schema. A server
 * that is going to refuse a snapshot anyway (its ingest queue is full) decides on this and skips
 * validating megabytes it will not store.
 */
function parseEnvelope(raw: string, knownTypes: readonly string[]): EnvelopeResult {
  if (Buffer.byteLength(raw, 'utf8') > MAX_FRAME_BYTES) {
    return { ok: false, code: 'bad_frame', message: `frame exceeds ${MAX_FRAME_BYTES} bytes` };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, code: 'bad_frame', message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'bad_frame', message: 'frame is not a JSON object' };
  }
  const { v: version, type } = value as { v?: unknown; type?: unknown };
  if (typeof version !== 'number' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    return {
      ok: false,
      code: 'unsupported_version',
      message: `protocol version ${String(version)} is not supported (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
    };
  }
  if (typeof type !== 'string' || !knownTypes.includes(type)) {
    return { ok: false, code: 'unknown_type', message: `unknown message type ${JSON.stringify(type)}` };
  }
  return { ok: true, type, value: value as Record<string, unknown> };
}

/** The schema half: the envelope's value checked against the closed set of messages. */
function validateEnvelope<T>(type: string, value: unknown, schema: z.ZodMiniType<T>): ParseResult<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join('.') || '(root)' : '(root)';
    return {
      ok: false,
      code: 'bad_frame',
      message: `invalid ${type} frame at ${where}: ${issue?.message ?? 'invalid'}`,
    };
  }
  return { ok: true, message: parsed.data };
}

/** Parses one frame with the deny-by-default rules shared by both ends. */
function parseFrame<T>(raw: string, schema: z.ZodMiniType<T>, knownTypes: readonly string[]): ParseResult<T> {
  const envelope = parseEnvelope(raw, knownTypes);
  if (!envelope.ok) return envelope;
  return validateEnvelope(envelope.type, envelope.value, schema);
}

const AGENT_TYPES = ZAgentMessage.def.options.flatMap((o) => o.shape.type.def.values);
const SERVER_TYPES = ZServerMessage.def.options.flatMap((o) => o.shape.type.def.values);

export function parseAgentMessage(raw: string): ParseResult<AgentMessage> {
  return parseFrame(raw, ZAgentMessage, AGENT_TYPES);
}

const READING_HEAD = /^\{"v":1,"type":"(snapshot|delta)","stream":"[A-Za-z0-9_-]{8,64}","seq":(\d{1,16})[,}]/;

/**
 * The type and seq of a snapshot or delta read from the first bytes of its frame, as agents
 * encode it (`v`, `type`, `stream`, `seq` first), without parsing the rest; null for any other
 * frame or layout. For refusing a reading the server will not store anyway (its queue is full):
 * a refusal stores nothing, and the frame is checked in full when it is sent again.
 */
export function peekReading(raw: Buffer): { type: 'snapshot' | 'delta'; seq: number } | null {
  const head = READING_HEAD.exec(raw.subarray(0, 160).toString('latin1'));
  if (!head) return null;
  const seq = Number(head[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { type: head[1] as 'snapshot' | 'delta', seq };
}

/** `parseAgentMessage` in two steps: the envelope, then `validateAgentEnvelope`. */
export function parseAgentEnvelope(raw: string): EnvelopeResult {
  return parseEnvelope(raw, AGENT_TYPES);
}

export function validateAgentEnvelope(envelope: Extract<EnvelopeResult, { ok: true }>): ParseResult<AgentMessage> {
  return validateEnvelope(envelope.type, envelope.value, ZAgentMessage);
}

export function parseServerMessage(raw: string): ParseResult<ServerMessage> {
  return parseFrame(raw, ZServerMessage, SERVER_TYPES);
}

export function encodeMessage(message: AgentMessage | ServerMessage): string {
  return JSON.stringify(message);
}

/** Where an agent exchanges an enrollment token for its credential (plain HTTPS POST). */
export const AGENT_ENROLL_PATH = '/agent/v1/enroll';

export const ZEnrollRequest = z.object({
  token: z.string().check(z.minLength(1), z.maxLength(256)),
  machineId: z.string().check(z.minLength(1), z.maxLength(128)),
  hostname: z.string().check(z.minLength(1), z.maxLength(255)),
});
export type EnrollRequest = z.infer<typeof ZEnrollRequest>;

export const ZEnrollResponse = z.object({
  agentId: z.string(),
  hostId: z.string(),
  /** Shown once: the server keeps only its hash. */
  credential: z.string().check(z.minLength(1)),
  /** Set when the server treated this enrollment as a suspected clone of another host. */
  cloneOf: z.nullable(z.string()),
});
export type EnrollResponse = z.infer<typeof ZEnrollResponse>;
