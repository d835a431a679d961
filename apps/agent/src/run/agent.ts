import {
  type AgentMessage,
  CloseCode,
  encodeMessage,
  JOB_KINDS,
  jobCapability,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
} from '@ballast/shared';
import WebSocket from 'ws';
import { kindAllowed, type RemediationConfig } from '../config/file.js';
import { trustedCAs } from '../enroll/enroll.js';
import type { JobService } from '../jobs/service.js';
import { errorMessage, type Logger } from '../log.js';
import type { Scanner } from '../scanner.js';
import { AGENT_VERSION } from '../version.js';
import { type BackoffPolicy, backoffDelay, RECONNECT_BACKOFF } from './backoff.js';

export const AGENT_CAPABILITIES = ['inventory.v1'];

/** `jobs`, then `job:<kind>` for every kind the local config allows. */
export function jobCapabilities(remediation: RemediationConfig): string[] {
  return ['jobs', ...JOB_KINDS.filter((k) => kindAllowed(remediation, k).ok).map(jobCapability)];
}

export interface AgentRunnerOptions {
  serverUrl: string;
  token: string;
  /** PEM bundle trusted in addition to the system roots; verification itself is never turned off. */
  ca: string | null;
  intervalSeconds: number;
  slowIntervalSeconds: number;
  scanner: Scanner;
  log: Logger;
  /** Remediation jobs; without it the agent only measures and announces no job capability. */
  jobs?: { service: JobService; remediation: RemediationConfig } | null;
  /** Delay before the snapshot that follows an executed job (so the server reconciles). */
  postJobSnapshotMs?: number;
  backoff?: BackoffPolicy;
  /** Delay between attempts while the server refuses the token: an operator has to act first. */
  unauthorizedRetryMs?: number;
  heartbeatMs?: number;
  welcomeTimeoutMs?: number;
  /** How long the first snapshot waits for the first slow pass, so it carries walked sizes. */
  firstSnapshotWaitMs?: number;
  random?: () => number;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * The `run` loop: one outbound WebSocket, `hello` → `welcome` → a full snapshot every
 * interval (each acked by seq), heartbeats, and reconnection with jittered backoff. Slow
 * walks run on their own cadence and feed the next snapshot.
 */
export class AgentRunner {
  private ws: WebSocket | null = null;
  private stopping = false;
  private readonly abort = new AbortController();
  private attempt = 0;
  private seq = 0;
  private pendingAck: { seq: number; sentAt: number } | null = null;
  /** Set by a `busy` answer: no snapshot leaves before this time (kept across reconnects). */
  private notBefore = 0;
  /** Ends the snapshot loop's current wait early (a `busy` answer reschedules it). */
  private wakeSnapshotLoop: (() => void) | null = null;
  private welcomed = false;
  private lastHeard = 0;
  private lastError: string | null = null;
  private timers = new Set<Timer>();
  private connectionTimers = new Set<Timer>();
  private firstSlowPass: Promise<void>;
  private markFirstSlowPass: () => void = () => {};
  private stopped: Promise<void> | null = null;
  /** `plan:<jobId>` / `execute:<jobId>` being handled: a re-delivery meanwhile is ignored. */
  private readonly jobsInFlight = new Set<string>();

  constructor(private readonly options: AgentRunnerOptions) {
    this.firstSlowPass = new Promise((resolve) => {
      this.markFirstSlowPass = resolve;
    });
  }

  start(): void {
    void this.slowLoop();
    this.connect();
  }

  /** Closes the socket with 1000 and stops every timer and walk; resolves once closed. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.abort.abort();
    for (const t of [...this.timers, ...this.connectionTimers]) clearTimeout(t);
    const ws = this.ws;
    this.stopped = new Promise<void>((resolve) => {
      if (!ws || ws.readyState === WebSocket.CLOSED) {
        resolve();
        return;
      }
      const force = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 3_000);
      ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      if (ws.readyState === WebSocket.OPEN) ws.close(CloseCode.normal, 'agent stopping');
      else ws.terminate();
    });
    return this.stopped;
  }

  private get log(): Logger {
    return this.options.log;
  }

  private later(ms: number, fn: () => void, perConnection = false): void {
    const set = perConnection ? this.connectionTimers : this.timers;
    const timer = setTimeout(() => {
      set.delete(timer);
      fn();
    }, ms);
    set.add(timer);
  }

  private async slowLoop(): Promise<void> {
    const { scanner, slowIntervalSeconds } = this.options;
    while (!this.stopping) {
      const started = Date.now();
      try {
        // A complete relist on the slow cadence, whatever the engine's events said.
        const pass = await scanner.cheapPass(this.abort.signal, undefined, true);
        await scanner.slowPass(pass.facts, this.abort.signal);
        this.log.info('slow pass done', { durationMs: Date.now() - started });
      } catch (err) {
        if (!this.stopping) this.log.warn('slow pass failed', { error: errorMessage(err) });
      }
      this.markFirstSlowPass();
      if (this.stopping) return;
      await new Promise<void>((resolve) => this.later(slowIntervalSeconds * 1000, resolve));
    }
  }

  private connect(): void {
    if (this.stopping) return;
    const { serverUrl, token, ca } = this.options;
    this.welcomed = false;
    this.lastError = null;
    this.log.info('connecting', { url: serverUrl, attempt: this.attempt });
    const ws = new WebSocket(serverUrl, {
      headers: { Authorization: `Bearer ${token}` },
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 15_000,
      ...(ca ? { ca: trustedCAs(ca) } : {}),
    });
    this.ws = ws;
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data, isBinary) => {
      this.lastHeard = Date.now();
      if (isBinary) {
        this.protocolViolation(ws, 'binary frame');
        return;
      }
      const parsed = parseServerMessage(data.toString());
      if (!parsed.ok) {
        this.protocolViolation(ws, `${parsed.code}: ${parsed.message}`);
        return;
      }
      this.onMessage(ws, parsed.message);
    });
    ws.on('pong', () => {
      this.lastHeard = Date.now();
    });
    ws.on('error', (err) => {
      this.lastError = errorMessage(err);
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private send(ws: WebSocket, message: AgentMessage): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeMessage(message));
    return true;
  }

  private onOpen(ws: WebSocket): void {
    this.lastHeard = Date.now();
    void this.options.scanner.hostInfo().then(
      (host) => {
        this.send(ws, {
          v: PROTOCOL_VERSION,
          type: 'hello',
          agentVersion: AGENT_VERSION,
          machineId: host.machineId,
          hostname: host.hostname.slice(0, 255) || 'unknown',
          capabilities: [
            ...AGENT_CAPABILITIES,
            ...(this.options.jobs ? jobCapabilities(this.options.jobs.remediation) : []),
          ],
        });
      },
      (err: unknown) => {
        this.log.error('cannot read host identity', { error: errorMessage(err) });
        ws.close(CloseCode.goingAway, 'agent error');
      },
    );
    this.later(
      this.options.welcomeTimeoutMs ?? 15_000,
      () => {
        if (!this.welcomed && ws.readyState === WebSocket.OPEN) {
          this.log.warn('no welcome from the server; reconnecting');
          ws.close(CloseCode.helloTimeout, 'no welcome');
        }
      },
      true,
    );
  }

  private onMessage(ws: WebSocket, message: ServerMessage): void {
    switch (message.type) {
      case 'welcome': {
        if (this.welcomed) return;
        this.welcomed = true;
        this.attempt = 0;
        const interval = Math.max(this.options.intervalSeconds, message.snapshotIntervalSeconds);
        this.log.info('connected', {
          hostId: message.hostId,
          serverVersion: message.serverVersion,
          intervalSeconds: interval,
        });
        if (message.agentVersion && message.agentVersion !== AGENT_VERSION) {
          this.log.info('the server publishes another agent version; install it with `ballast-agent upgrade`', {
            running: AGENT_VERSION,
            published: message.agentVersion,
          });
        }
        this.heartbeat(ws);
        void this.snapshotLoop(ws, interval);
        return;
      }
      case 'ack':
        if (this.pendingAck?.seq === message.seq) {
          this.log.debug('snapshot acked', { seq: message.seq, ms: Date.now() - this.pendingAck.sentAt });
          this.pendingAck = null;
        }
        return;
      case 'error':
        if (message.code === 'busy') {
          this.onBusy(message.seq, message.retryAfterSeconds);
          return;
        }
        this.log.warn('server reported an error', { code: message.code, message: message.message, seq: message.seq });
        return;
      case 'job.plan':
        this.onJobPlan(message);
        return;
      case 'job.execute':
        this.onJobExecute(message);
        return;
    }
  }

  /** Sends on whatever connection is current: a job outlives the connection it arrived on. */
  private sendCurrent(message: AgentMessage): boolean {
    return this.ws ? this.send(this.ws, message) : false;
  }

  private onJobPlan(message: Extract<ServerMessage, { type: 'job.plan' }>): void {
    const jobs = this.options.jobs;
    const key = `plan:${message.jobId}`;
    if (this.jobsInFlight.has(key)) return;
    if (!jobs) {
      this.sendCurrent({
        v: PROTOCOL_VERSION,
        type: 'job.rejected',
        jobId: message.jobId,
        phase: 'plan',
        code: 'disabled',
        message: 'this agent runs without remediation jobs',
      });
      return;
    }
    this.jobsInFlight.add(key);
    void jobs.service
      .plan(message.jobId, message.kind, message.params, message.deadline)
      .then((outcome) => {
        this.sendCurrent(
          outcome.ok
            ? { v: PROTOCOL_VERSION, type: 'job.planned', jobId: message.jobId, plan: outcome.plan }
            : {
                v: PROTOCOL_VERSION,
                type: 'job.rejected',
                jobId: message.jobId,
                phase: 'plan',
                code: outcome.code,
                message: outcome.message,
              },
        );
        this.log.info('job planned', { jobId: message.jobId, kind: message.kind, ok: outcome.ok });
      })
      .catch((err: unknown) =>
        this.log.error('job planning failed', { jobId: message.jobId, error: errorMessage(err) }),
      )
      .finally(() => this.jobsInFlight.delete(key));
  }

  private onJobExecute(message: Extract<ServerMessage, { type: 'job.execute' }>): void {
    const jobs = this.options.jobs;
    const key = `execute:${message.jobId}`;
    if (this.jobsInFlight.has(key)) return;
    if (!jobs) {
      this.sendCurrent({
        v: PROTOCOL_VERSION,
        type: 'job.rejected',
        jobId: message.jobId,
        phase: 'execute',
        code: 'disabled',
        message: 'this agent runs without remediation jobs',
      });
      return;
    }
    this.jobsInFlight.add(key);
    const plan = message.jobId === message.plan.jobId ? message.plan : { ...message.plan, jobId: message.jobId };
    void jobs.service
      .execute(plan, message.deadline, {
        onProgress: (p) => this.sendCurrent({ v: PROTOCOL_VERSION, type: 'job.progress', jobId: message.jobId, ...p }),
      })
      .then((outcome) => {
        if (!outcome.ok) {
          this.sendCurrent({
            v: PROTOCOL_VERSION,
            type: 'job.rejected',
            jobId: message.jobId,
            phase: 'execute',
            code: outcome.code,
            message: outcome.message,
          });
          return;
        }
        this.sendCurrent({ v: PROTOCOL_VERSION, type: 'job.result', jobId: message.jobId, result: outcome.result });
        this.log.info('job executed', {
          jobId: message.jobId,
          status: outcome.result.status,
          bytesFreed: outcome.result.bytesFreed,
          stored: outcome.stored,
        });
        if (!outcome.stored) {
          // The server reconciles from the next snapshot: send one soon rather than at the next interval.
          this.later(this.options.postJobSnapshotMs ?? 1_000, () => {
            if (this.ws && this.welcomed) void this.sendSnapshot(this.ws);
          });
        }
      })
      .catch((err: unknown) =>
        // Nothing is answered: the ledger holds what was done, and the re-delivered frame resumes it.
        this.log.error('job execution failed', { jobId: message.jobId, error: errorMessage(err) }),
      )
      .finally(() => this.jobsInFlight.delete(key));
  }

  private protocolViolation(ws: WebSocket, detail: string): void {
    this.log.warn('invalid frame from the server; reconnecting', { detail });
    ws.close(CloseCode.badFrame, 'invalid frame');
  }

  private heartbeat(ws: WebSocket): void {
    const every = this.options.heartbeatMs ?? 30_000;
    this.later(
      every,
      () => {
        if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
        // A half-open TCP connection never errors by itself: give up after three silent beats.
        if (Date.now() - this.lastHeard > every * 3) {
          this.log.warn('server stopped answering; reconnecting');
          ws.terminate();
          return;
        }
        this.send(ws, { v: PROTOCOL_VERSION, type: 'heartbeat', sentAt: new Date().toISOString() });
        ws.ping();
        this.heartbeat(ws);
      },
      true,
    );
  }

  /**
   * The server's ingest queue is full and it did not store the snapshot. Nothing is sent for
   * at least `retryAfterSeconds` (plus up to a quarter more, so refused agents do not return
   * together); then the loop sends a fresh snapshot, which supersedes the refused one.
   */
  private onBusy(seq: number | undefined, retryAfterSeconds: number | undefined): void {
    const random = this.options.random ?? Math.random;
    const waitMs = Math.round((retryAfterSeconds ?? 30) * 1000 * (1 + random() / 4));
    this.notBefore = Math.max(this.notBefore, Date.now() + waitMs);
    if (seq !== undefined && this.pendingAck?.seq === seq) this.pendingAck = null;
    this.log.warn('server busy: backing off before the next snapshot', { seq, retryAfterSeconds, waitMs });
    this.wakeSnapshotLoop?.();
  }

  /** Waits `ms`, or less when a `busy` answer wakes the loop to reschedule. */
  private snapshotWait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        this.wakeSnapshotLoop = null;
        resolve();
      };
      this.wakeSnapshotLoop = finish;
      this.later(ms, finish, true);
    });
  }

  private async snapshotLoop(ws: WebSocket, intervalSeconds: number): Promise<void> {
    const { scanner } = this.options;
    if (!scanner.hasSlowResults) {
      await Promise.race([
        this.firstSlowPass,
        new Promise<void>((resolve) => this.later(this.options.firstSnapshotWaitMs ?? 30_000, resolve, true)),
      ]);
    }
    while (ws === this.ws && ws.readyState === WebSocket.OPEN && !this.stopping) {
      const backoffLeft = this.notBefore - Date.now();
      if (backoffLeft > 0) {
        await this.snapshotWait(backoffLeft);
        continue;
      }
      const started = Date.now();
      await this.sendSnapshot(ws);
      const wait = Math.max(0, intervalSeconds * 1000 - (Date.now() - started));
      await this.snapshotWait(wait);
    }
  }

  private async sendSnapshot(ws: WebSocket): Promise<void> {
    if (Date.now() < this.notBefore) {
      this.log.debug('snapshot held back: the server asked to back off', { untilMs: this.notBefore - Date.now() });
      return;
    }
    if (this.pendingAck) {
      this.log.warn('previous snapshot was not acked', { seq: this.pendingAck.seq });
    }
    const started = Date.now();
    try {
      const pass = await this.options.scanner.cheapPass(this.abort.signal);
      const inventory = await this.options.scanner.inventory(pass);
      this.seq += 1;
      const frame = encodeMessage({ v: PROTOCOL_VERSION, type: 'snapshot', seq: this.seq, inventory });
      const bytes = Buffer.byteLength(frame);
      if (bytes > MAX_FRAME_BYTES) {
        this.log.error('snapshot exceeds the frame limit; not sent', { bytes, limit: MAX_FRAME_BYTES });
        return;
      }
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(frame);
      this.pendingAck = { seq: this.seq, sentAt: Date.now() };
      this.log.debug('snapshot sent', { seq: this.seq, bytes, collectMs: Date.now() - started });
    } catch (err) {
      if (!this.stopping)
        this.log.warn('snapshot skipped: inventory could not be collected', { error: errorMessage(err) });
    }
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    for (const t of this.connectionTimers) clearTimeout(t);
    this.connectionTimers.clear();
    if (ws !== this.ws) return;
    this.ws = null;
    this.pendingAck = null;
    if (this.stopping) return;
    const httpStatus = /Unexpected server response: (\d+)/.exec(this.lastError ?? '')?.[1];
    const refused =
      code === CloseCode.unauthorized || code === CloseCode.forbidden || httpStatus === '401' || httpStatus === '403';
    // Retrying fast cannot fix a revoked token or an old protocol: an operator has to act first.
    const slowRetryMs = this.options.unauthorizedRetryMs ?? 300_000;
    const slow = { minMs: slowRetryMs, maxMs: slowRetryMs };
    let delay: number;
    if (refused) {
      delay = backoffDelay(0, slow, this.options.random);
      this.log.error('the server refused this agent: check the token (--token-file / BALLAST_TOKEN); retrying slowly', {
        code,
        reason,
        httpStatus: httpStatus ? Number(httpStatus) : undefined,
        retryInMs: delay,
      });
    } else if (code === CloseCode.unsupportedVersion) {
      delay = backoffDelay(0, slow, this.options.random);
      this.log.error("the server does not accept this agent's protocol version: upgrade the agent; retrying slowly", {
        code,
        reason,
        retryInMs: delay,
      });
    } else {
      delay = backoffDelay(this.attempt, this.options.backoff ?? RECONNECT_BACKOFF, this.options.random);
      this.attempt += 1;
      this.log.warn('disconnected', {
        code,
        reason: reason || undefined,
        error: this.lastError ?? undefined,
        retryInMs: delay,
      });
    }
    this.later(delay, () => this.connect());
  }
}
