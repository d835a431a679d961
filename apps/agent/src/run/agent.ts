import { setMaxListeners } from 'node:events';
import {
  type AgentMessage,
  CloseCode,
  encodeMessage,
  INGEST_PROCEED_CAPABILITY,
  JOB_KINDS,
  type JobKind,
  jobCapability,
  MAX_FRAME_BYTES,
  PROCEED_GRACE_SECONDS,
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
import { slowPassDelay } from './schedule.js';
import { FrameTooLargeError, type Spool } from './spool.js';

/** The most a busy back-off is lengthened at random (see onBusy). */
const BUSY_SPREAD_MS = 2_000;
export const AGENT_CAPABILITIES = ['inventory.v1', 'inventory.delta.v1', INGEST_PROCEED_CAPABILITY];

/** Failures of one frame (`ingest_failed` and the like) after which it is replaced by a full snapshot. */
export const MAX_FRAME_FAILURES = 3;
/** After a pass, long enough for its frame to be written and sent on a healthy link (collectGarbageWhenIdle). */
const IDLE_GC_DELAY_MS = 1_000;
/** After that collection, long enough for V8 to finish sweeping, so the next one returns the freed pages. */
const RELEASE_GC_DELAY_MS = 1_000;
/** `gc` where node exposes it (`--expose-gc`, as the unit runs it). */
const exposedGc = (): (() => void) | null => {
  const gc = (globalThis as { gc?: () => void }).gc;
  return typeof gc === 'function' ? gc : null;
};

/** `jobs`, then `job:<kind>` for every kind this host can run and the local config allows. */
export function jobCapabilities(remediation: RemediationConfig, hostKinds: readonly JobKind[]): string[] {
  return [
    'jobs',
    ...JOB_KINDS.filter((k) => hostKinds.includes(k) && kindAllowed(remediation, k).ok).map(jobCapability),
  ];
}

export interface AgentRunnerOptions {
  serverUrl: string;
  token: string;
  /** PEM bundle trusted in addition to the system roots; verification itself is never turned off. */
  ca: string | null;
  intervalSeconds: number;
  slowIntervalSeconds: number;
  scanner: Scanner;
  /** Readings waiting for the server's ack: survives reconnects, and restarts when on disk. */
  spool: Spool;
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
  /** Delay before re-sending a frame the server failed to store. */
  ingestRetryMs?: number;
  /** A frame the server has neither acked nor refused after this long is sent again. */
  ackTimeoutMs?: number;
  random?: () => number;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * The `run` loop. Every interval a reading is collected and spooled (a full snapshot or a
 * delta on the previous reading, see spool.ts), connected or not. Over one outbound WebSocket
 * (`hello` → `welcome`) the spooled frames are sent oldest first, one in flight, each removed
 * once acked; a backlog drains back to back. Heartbeats, reconnection with jittered backoff,
 * and remediation jobs share the connection. Slow walks run on their own cadence and feed the
 * next reading.
 */
export class AgentRunner {
  private ws: WebSocket | null = null;
  private stopping = false;
  private readonly abort = new AbortController();
  private attempt = 0;
  /** The frame sent and not yet answered: at most one. */
  private inFlight: { seq: number; sentAt: number } | null = null;
  /** Failed attempts to store the oldest frame (kept across reconnects). */
  private failures: { seq: number; count: number } | null = null;
  /** Set by `busy` (and a failed store): no frame leaves before this time (kept across reconnects). */
  private notBefore = 0;
  /**
   * Set by a `busy` with `queued`: the back-off the server estimated, which is all that holds
   * once the connection (and with it the place in line) is lost. Until then `notBefore` waits
   * for `proceed`, up to PROCEED_GRACE_SECONDS past it.
   */
  private queuedBackoffUntil: number | null = null;
  private sendWake: Timer | null = null;
  private pumping = false;
  private gcScheduled = false;
  /** When the collect loop's next reading is due (ms since the epoch); null until it runs. */
  private nextReadingAt: number | null = null;
  private pumpAgain = false;
  private intervalSeconds: number;
  /** Collections run one after the other: a post-job reading waits for one in progress. */
  private collecting: Promise<void> = Promise.resolve();
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
    // Every Docker request and walk in flight holds one abort listener on this signal until it
    // settles: a pass inspects 8 containers at once, and an interval's pass can overlap the slow
    // pass's relist. Node warns past 10, which here is no leak.
    setMaxListeners(64, this.abort.signal);
    this.intervalSeconds = options.intervalSeconds;
    this.firstSlowPass = new Promise((resolve) => {
      this.markFirstSlowPass = resolve;
    });
  }

  start(): void {
    void this.slowLoop();
    void this.collectLoop();
    this.connect();
  }

  /**
   * Closes the socket with 1000 and stops every timer and walk; resolves once closed and the
   * spool has finished its writes.
   */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.abort.abort();
    for (const t of [...this.timers, ...this.connectionTimers]) clearTimeout(t);
    if (this.sendWake) clearTimeout(this.sendWake);
    const ws = this.ws;
    const closed = new Promise<void>((resolve) => {
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
    this.stopped = Promise.all([closed, this.collecting]).then(() => this.options.spool.drain());
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

  /**
   * Asks V8 for a full collection a second after a pass, and another a second later, where node
   * exposes `gc` (the unit runs it with --expose-gc, install/unit.ts). Most of a pass's garbage
   * (API answers, the encoded frame) outlives the 1 MiB young generation, and V8 would keep it
   * resident until the next pass's allocations set off a collection: a minute or more of a few
   * extra megabytes after every pass. The first collection frees the heap, but the pages it
   * frees are swept concurrently and given back only by the next collection: after a slow pass,
   * RSS stayed 5 MB up until the next interval's. One collection of this heap takes 10 to 20 ms.
   */
  private collectGarbageWhenIdle(): void {
    if (!exposedGc() || this.gcScheduled) return;
    this.gcScheduled = true;
    this.later(IDLE_GC_DELAY_MS, () => {
      this.gcScheduled = false;
      this.collectGarbage('garbage collected after a pass');
      this.later(RELEASE_GC_DELAY_MS, () => this.collectGarbage('garbage collected again'));
    });
  }

  /** A full collection now, where node exposes `gc`; logged at debug level. */
  private collectGarbage(msg: string): void {
    const gc = exposedGc();
    if (!gc) return;
    const before = process.memoryUsage();
    const started = performance.now();
    gc();
    const after = process.memoryUsage();
    this.log.debug(msg, {
      ms: Math.round(performance.now() - started),
      heapUsedBefore: before.heapUsed,
      heapUsedAfter: after.heapUsed,
      rssBefore: before.rss,
      rssAfter: after.rss,
    });
  }

  private async slowLoop(): Promise<void> {
    const { scanner, slowIntervalSeconds } = this.options;
    while (!this.stopping) {
      const started = Date.now();
      try {
        // A complete relist on the slow cadence, whatever the engine's events said.
        const pass = await scanner.cheapPass(this.abort.signal, undefined, true);
        // The relist's API answers are garbage by now: collected before the walks and the
        // build-cache read, they do not add to what those allocate (about 1 MB less at the peak).
        this.collectGarbage('garbage collected before the slow collectors');
        await scanner.slowPass(pass.facts, this.abort.signal);
        this.log.info('slow pass done', { durationMs: Date.now() - started });
        this.collectGarbageWhenIdle();
      } catch (err) {
        if (!this.stopping) this.log.warn('slow pass failed', { error: errorMessage(err) });
      }
      this.markFirstSlowPass();
      if (this.stopping) return;
      // Until the collect loop has scheduled a reading, its first one starts now: it waits for
      // the first slow pass (collectLoop).
      const now = Date.now();
      const delay = slowPassDelay(
        now,
        slowIntervalSeconds * 1000,
        this.intervalSeconds * 1000,
        this.nextReadingAt ?? now,
      );
      await new Promise<void>((resolve) => this.later(delay, resolve));
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
            ...(this.options.jobs
              ? jobCapabilities(this.options.jobs.remediation, this.options.jobs.service.hostKinds)
              : []),
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
        this.intervalSeconds = Math.max(this.options.intervalSeconds, message.snapshotIntervalSeconds);
        this.log.info('connected', {
          hostId: message.hostId,
          serverVersion: message.serverVersion,
          intervalSeconds: this.intervalSeconds,
          backlog: this.options.spool.backlog.frames,
        });
        if (message.agentVersion && message.agentVersion !== AGENT_VERSION) {
          this.log.info('the server publishes another agent version; install it with `ballast-agent upgrade`', {
            running: AGENT_VERSION,
            published: message.agentVersion,
          });
        }
        this.heartbeat(ws);
        // The oldest unacked frame goes first: whatever the last connection left unanswered.
        void this.pump();
        return;
      }
      case 'ack':
        this.onAck(message.seq);
        return;
      case 'resync':
        this.onResync(message.seq, message.reason);
        return;
      case 'error':
        if (message.code === 'busy') {
          this.onBusy(message.seq, message.retryAfterSeconds, message.queued === true);
          return;
        }
        if (message.seq !== undefined && this.inFlight?.seq === message.seq) {
          this.onFrameFailed(message.seq, message.code, message.message);
          return;
        }
        this.log.warn('server reported an error', { code: message.code, message: message.message, seq: message.seq });
        return;
      case 'proceed':
        this.onProceed();
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
          // The server reconciles from the next reading: take one soon rather than at the next interval.
          this.later(this.options.postJobSnapshotMs ?? 1_000, () => void this.collect());
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

  private async collectLoop(): Promise<void> {
    const { scanner } = this.options;
    if (!scanner.hasSlowResults) {
      await Promise.race([
        this.firstSlowPass,
        new Promise<void>((resolve) => this.later(this.options.firstSnapshotWaitMs ?? 30_000, resolve)),
      ]);
    }
    while (!this.stopping) {
      const started = Date.now();
      await this.collect();
      const wait = Math.max(0, this.intervalSeconds * 1000 - (Date.now() - started));
      this.nextReadingAt = Date.now() + wait;
      await new Promise<void>((resolve) => this.later(wait, resolve));
    }
  }

  private collect(): Promise<void> {
    const run = this.collecting.then(() => this.collectOnce());
    this.collecting = run;
    return run;
  }

  /** One reading into the spool; every reading is a sample of the host's history, sent or not yet. */
  private async collectOnce(): Promise<void> {
    if (this.stopping) return;
    const { scanner, spool } = this.options;
    const started = Date.now();
    try {
      const pass = await scanner.cheapPass(this.abort.signal);
      const inventory = await scanner.inventory(pass);
      if (this.stopping) return;
      const spooled = await spool.append(inventory);
      this.log.debug('reading spooled', {
        seq: spooled.seq,
        type: spooled.type,
        bytes: spooled.bytes,
        collectMs: Date.now() - started,
        backlog: spool.backlog.frames,
      });
      void this.pump();
      this.collectGarbageWhenIdle();
    } catch (err) {
      if (this.stopping) return;
      if (err instanceof FrameTooLargeError) {
        this.log.error('reading exceeds the frame limit; not sent', { bytes: err.bytes, limit: MAX_FRAME_BYTES });
        return;
      }
      this.log.warn('reading skipped: inventory could not be collected or spooled', { error: errorMessage(err) });
    }
  }

  /** Sends the oldest unacked frame when the connection is ready, nothing is in flight and no back-off holds. */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        await this.sendOldest();
      } while (this.pumpAgain && !this.stopping);
    } catch (err) {
      this.log.warn('cannot read the spool', { error: errorMessage(err) });
    } finally {
      this.pumping = false;
    }
  }

  private canSend(ws: WebSocket | null): ws is WebSocket {
    return (
      ws !== null &&
      ws === this.ws &&
      this.welcomed &&
      ws.readyState === WebSocket.OPEN &&
      this.inFlight === null &&
      !this.stopping
    );
  }

  private async sendOldest(): Promise<void> {
    if (!this.canSend(this.ws)) return;
    const wait = this.notBefore - Date.now();
    if (wait > 0) {
      this.wakeSenderIn(wait);
      return;
    }
    const ws = this.ws;
    const frame = await this.options.spool.oldest();
    if (!frame || !this.canSend(ws) || Date.now() < this.notBefore) return;
    ws.send(frame.text);
    const sentAt = Date.now();
    // Only the seq outlives this call: the timer below would otherwise hold a snapshot's text
    // (megabytes) until it fires.
    const { seq } = frame;
    this.inFlight = { seq, sentAt };
    this.log.debug('frame sent', { seq, type: frame.type, bytes: Buffer.byteLength(frame.text) });
    this.later(
      this.options.ackTimeoutMs ?? 120_000,
      () => {
        if (this.inFlight?.seq !== seq || this.inFlight.sentAt !== sentAt || ws !== this.ws) return;
        // The server dedupes by seq: sending it again can only get it stored once.
        this.log.warn('frame neither acked nor refused in time; sending it again', { seq });
        this.inFlight = null;
        void this.pump();
      },
      true,
    );
  }

  private wakeSenderIn(ms: number): void {
    if (this.sendWake) clearTimeout(this.sendWake);
    this.sendWake = setTimeout(() => {
      this.sendWake = null;
      void this.pump();
    }, ms);
  }

  private onAck(seq: number): void {
    const inFlight = this.inFlight;
    if (inFlight?.seq !== seq) {
      this.log.debug('ack for a frame not in flight', { seq });
      return;
    }
    this.inFlight = null;
    if (this.failures?.seq === seq) this.failures = null;
    this.log.debug('frame acked', { seq, ms: Date.now() - inFlight.sentAt });
    // Queued on the spool before any later read of it: the next frame sent is the one after.
    void this.options.spool.ack(seq).then(
      () => this.pump(),
      (err: unknown) => this.log.warn('cannot remove an acked frame from the spool', { seq, error: errorMessage(err) }),
    );
  }

  /** The server holds another reading than the delta's base: start over from a full snapshot. */
  private onResync(seq: number, reason: string): void {
    if (this.inFlight?.seq !== seq) {
      this.log.debug('resync for a frame not in flight', { seq, reason });
      return;
    }
    this.inFlight = null;
    this.failures = null;
    this.log.warn('the server asked for a full snapshot', { seq, reason });
    this.resyncSpool();
  }

  private resyncSpool(): void {
    void this.options.spool.resync().then(
      (spooled) => {
        if (spooled) this.log.info('full snapshot spooled', { seq: spooled.seq, bytes: spooled.bytes });
        return this.pump();
      },
      (err: unknown) => this.log.warn('cannot resync the spool', { error: errorMessage(err) }),
    );
  }

  /**
   * The server's ingest queue is full and it did not store the frame. Nothing is sent for at
   * least `retryAfterSeconds`, plus a random part (a quarter of it, at most 2 s) so agents told
   * the same whole second do not return in the same instant; then the same frame goes again,
   * and the backlog after it. The server spaces the waits it hands out by its write rate, so a
   * longer spread would only leave its queue idle.
   */
  private onBusy(seq: number | undefined, retryAfterSeconds: number | undefined, queued: boolean): void {
    const random = this.options.random ?? Math.random;
    const baseMs = (retryAfterSeconds ?? 30) * 1000;
    const waitMs = Math.round(baseMs + random() * Math.min(baseMs / 4, BUSY_SPREAD_MS));
    const backoffUntil = Math.max(this.notBefore, Date.now() + waitMs);
    if (queued) {
      // In the server's line: `proceed` says when. The grace only covers a server that never
      // sends it.
      this.queuedBackoffUntil = backoffUntil;
      this.notBefore = backoffUntil + PROCEED_GRACE_SECONDS * 1000;
    } else {
      this.queuedBackoffUntil = null;
      this.notBefore = backoffUntil;
    }
    if (seq === undefined || this.inFlight?.seq === seq) this.inFlight = null;
    this.log.warn(
      queued
        ? 'server busy: waiting for its proceed before sending again'
        : 'server busy: backing off before sending again',
      { seq, retryAfterSeconds, waitMs },
    );
    void this.pump();
  }

  /** A place in the server's ingest queue is kept for this agent: the held frame goes now. */
  private onProceed(): void {
    if (this.queuedBackoffUntil === null) {
      this.log.debug('proceed without a queued back-off');
      return;
    }
    this.queuedBackoffUntil = null;
    this.notBefore = 0;
    this.log.info('server has a place for the held frame: sending it');
    void this.pump();
  }

  /**
   * The server could not store the frame. It is sent again after a short pause; one that keeps
   * failing is replaced by a full snapshot, so a frame the server can never store does not hold
   * the spool up for ever.
   */
  private onFrameFailed(seq: number, code: string, detail: string): void {
    this.inFlight = null;
    const count = this.failures?.seq === seq ? this.failures.count + 1 : 1;
    this.failures = { seq, count };
    if (count >= MAX_FRAME_FAILURES) {
      this.failures = null;
      this.log.warn('the server failed to store a frame repeatedly; replacing the backlog by a full snapshot', {
        seq,
        code,
        message: detail,
        failures: count,
      });
      this.resyncSpool();
      return;
    }
    const retryMs = this.options.ingestRetryMs ?? 5_000;
    this.notBefore = Math.max(this.notBefore, Date.now() + retryMs);
    this.log.warn('the server failed to store a frame; sending it again', {
      seq,
      code,
      message: detail,
      failures: count,
      retryInMs: retryMs,
    });
    void this.pump();
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    for (const t of this.connectionTimers) clearTimeout(t);
    this.connectionTimers.clear();
    if (ws !== this.ws) return;
    this.ws = null;
    // Unanswered: it stays in the spool and goes first on the next connection.
    this.inFlight = null;
    // The place in the server's line went with the connection: the estimated back-off holds.
    if (this.queuedBackoffUntil !== null) {
      this.notBefore = this.queuedBackoffUntil;
      this.queuedBackoffUntil = null;
    }
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
