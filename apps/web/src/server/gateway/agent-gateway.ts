import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  AGENT_ENROLL_PATH,
  AGENT_WS_PATH,
  type AgentMessage,
  CloseCode,
  encodeMessage,
  INGEST_PROCEED_CAPABILITY,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  parseAgentEnvelope,
  peekReading,
  type ServerMessage,
  validateAgentEnvelope,
} from '@ballast/shared';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../log';
import type { IngestOutcome, Reading } from '../services/ingest';
import { type AgentAuthenticator, type AgentPrincipal, bearerToken } from './agent-auth';
import { type EnrollHandler, handleEnrollRequest } from './enroll-http';
import { createIngestQueue, type IngestQueue, type IngestQueueOptions } from './ingest-queue';
import type { JobDispatch, SendToAgent } from './job-dispatch';

export interface GatewayHandlers {
  /** Registers the host named by a hello; returns its ID. */
  onHello(principal: AgentPrincipal, hello: Extract<AgentMessage, { type: 'hello' }>): Promise<{ hostId: string }>;
  /** Stores a snapshot or delta at most once; says whether it was stored, a re-send, or needs a resync. */
  onReading(orgId: string, hostId: string, reading: Reading): Promise<IngestOutcome>;
  onHeartbeat(orgId: string, hostId: string): Promise<void>;
  onDisconnect(orgId: string, hostId: string): Promise<void>;
}

export interface GatewayOptions {
  authenticate: AgentAuthenticator;
  /** Serves POST /agent/v1/enroll when given. */
  enroll?: EnrollHandler;
  handlers: GatewayHandlers;
  /** Remediation jobs: delivered to agents of this process, their answers applied. */
  jobs?: JobDispatch;
  log: Logger;
  serverVersion: string;
  /** The agent version this server publishes, told to agents in the welcome frame. */
  agentVersion?: () => string | undefined;
  snapshotIntervalSeconds: number;
  helloTimeoutMs?: number;
  pingIntervalMs?: number;
  /** Snapshots waiting for the database per connection before the agent is told to back off. */
  maxPendingSnapshots?: number;
  /**
   * Snapshots of all connections held in memory waiting for the database (`capacity`, default
   * 64: a parsed 400-image inventory takes megabytes of heap, and 200 of them queued at once
   * took the server to about 1 GB in the ingest bench) and written at once (`concurrency`,
   * default 6, below the database pool's size); beyond the capacity, or beyond one per writer
   * when the next would wait over `maxWaitMs` (default 150) for its ack, agents are told `busy`
   * and wait in line for `proceed`, or back off. Or a queue shared with other code.
   */
  ingestQueue?: IngestQueue | IngestQueueOptions;
  /** Job frames waiting per connection; beyond this they are dropped (the server re-sends its request). */
  maxPendingJobFrames?: number;
  /** Enrollment attempts allowed per client address and window. */
  enrollRateLimit?: { max: number; windowMs: number };
  /** How long a place kept for a queued agent (`proceed`) waits for its reading before it is released. */
  proceedWithinSeconds?: number;
}

export interface AgentGateway {
  /** Handles an HTTP upgrade if it is for the agent path; returns false otherwise. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Handles an HTTP request if it is for the enrollment path; returns false otherwise. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Closes the live socket of an enrolled agent (4403), if this process holds it. With several
   * gateway processes the revocation would have to reach the others too (LISTEN/NOTIFY);
   * until then every process refuses the credential at its next connection attempt.
   */
  disconnectAgent(agentId: string, reason: string): boolean;
  connectedAgents(): number;
  /** The ingest queue's fill, for health reports and the ingest bench. */
  ingestStats(): ReturnType<IngestQueue['stats']> & { refusedBusy: number; line: number };
  close(): Promise<void>;
}

function rejectUpgrade(socket: Duplex, status: number, reason: string) {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
  );
}

/**
 * The listen backlog for the server agents connect to (the kernel caps it at
 * `net.core.somaxconn`). Node's default of 511 is overflowed when thousands of agents reconnect
 * at once while the event loop is busy storing readings: the kernel then drops their
 * handshakes, and they wait for TCP retransmits and their own retries, tens of seconds.
 */
export const AGENT_LISTEN_BACKLOG = 4096;

/**
 * The agent WebSocket endpoint. It holds no state that matters beyond the open sockets,
 * so it can move to its own process behind the same path.
 */
export function createAgentGateway(options: GatewayOptions): AgentGateway {
  const { authenticate, handlers, log } = options;
  const helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
  const pingIntervalMs = options.pingIntervalMs ?? 30_000;
  const maxPending = options.maxPendingSnapshots ?? 2;
  const maxPendingJobFrames = options.maxPendingJobFrames ?? 100;
  const queue =
    options.ingestQueue && 'admit' in options.ingestQueue
      ? options.ingestQueue
      : createIngestQueue(options.ingestQueue ?? { capacity: 64, concurrency: 6, maxWaitMs: 150 });
  const proceedWithinSeconds = options.proceedWithinSeconds ?? 30;
  // Agents refused with `queued`, in the order they were refused: each place that frees in the
  // queue is kept for the first of them (its `keep` reserves it and sends `proceed`; false when
  // its connection is gone). An agent refused again keeps its place.
  const line = new Set<() => boolean>();
  queue.onFree(() => {
    for (const keep of line) {
      if (queue.full()) return;
      line.delete(keep);
      keep();
    }
  });
  // Refusals are counted and logged once per second at most: under load there are thousands.
  let refusedBusy = 0;
  let refusedSinceLog = 0;
  let lastBusyLog = 0;
  const noteBusy = (retryAfterSeconds: number) => {
    refusedBusy += 1;
    refusedSinceLog += 1;
    const now = Date.now();
    if (now - lastBusyLog >= 1_000) {
      log.warn('ingest queue full: agents told to back off', {
        refused: refusedSinceLog,
        retryAfterSeconds,
        line: line.size,
        ...queue.stats(),
      });
      lastBusyLog = now;
      refusedSinceLog = 0;
    }
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  const alive = new WeakMap<WebSocket, boolean>();
  // Live sockets of enrolled agents by credential id, so a revocation can close them at once.
  const byAgent = new Map<string, Set<WebSocket>>();
  const enrollLimiter = createRateLimiter(options.enrollRateLimit ?? { max: 10, windowMs: 60_000 });

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, pingIntervalMs);
  pinger.unref();

  const send = (ws: WebSocket, message: ServerMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(encodeMessage(message));
  };

  function serve(ws: WebSocket, principal: AgentPrincipal, remote: string) {
    const { orgId, agentId } = principal;
    let hostId: string | null = null;
    if (agentId) {
      const sockets = byAgent.get(agentId) ?? new Set<WebSocket>();
      // Two live sockets for one credential usually mean a machine cloned with its state
      // directory. Both are served (kicking one out would make them flap); the log says so.
      if (sockets.size > 0) log.warn('credential already connected: cloned state directory?', { agentId, remote });
      sockets.add(ws);
      byAgent.set(agentId, sockets);
    }
    let pending = 0;
    let pendingJobFrames = 0;
    let heartbeatPending = false;
    // Announced in the hello: waits for `proceed` after a queued `busy`.
    let waitsForProceed = false;
    // A place in the queue kept for this agent's next reading, released if none comes in time.
    let keptPlace: ReturnType<typeof setTimeout> | null = null;
    const keep = (): boolean => {
      if (ws.readyState !== ws.OPEN || keptPlace || !queue.admit()) return false;
      keptPlace = setTimeout(() => {
        keptPlace = null;
        queue.release();
        connLog.warn('place kept in the ingest queue went unused', { hostId, withinSeconds: proceedWithinSeconds });
      }, proceedWithinSeconds * 1000);
      send(ws, { v: PROTOCOL_VERSION, type: 'proceed', withinSeconds: proceedWithinSeconds });
      return true;
    };
    const takeKeptPlace = (): boolean => {
      if (!keptPlace) return false;
      clearTimeout(keptPlace);
      keptPlace = null;
      return true;
    };
    let chain: Promise<void> = Promise.resolve();
    const sendToAgent: SendToAgent = (message) => send(ws, message);
    const connLog = log.child({ remote, orgId, agentId });
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));

    const helloTimer = setTimeout(() => {
      connLog.warn('agent sent no hello in time');
      ws.close(CloseCode.helloTimeout, 'hello timeout');
    }, helloTimeoutMs);

    const fail = (code: number, reason: string, fields: Record<string, unknown> = {}) => {
      connLog.warn('closing agent connection', { code, reason, hostId, ...fields });
      ws.close(code, reason.slice(0, 120));
    };

    const refuseBusy = (seq: number | undefined) => {
      const retryAfterSeconds = queue.retryAfterSeconds();
      noteBusy(retryAfterSeconds);
      // In line only when the process-wide queue is what refused it, not this connection's own
      // readings waiting in it.
      const queued = waitsForProceed && pending < maxPending;
      if (queued) line.add(keep);
      send(ws, {
        v: PROTOCOL_VERSION,
        type: 'error',
        code: 'busy',
        message: queued
          ? 'server busy: not stored, you are in line; send it again on proceed'
          : 'server busy: not stored, send it again after the back-off',
        ...(seq !== undefined && { seq }),
        retryAfterSeconds,
        ...(queued && { queued }),
      });
    };
    const mustRefuse = () => hostId !== null && keptPlace === null && (pending >= maxPending || queue.full());

    ws.on('message', (data, isBinary) => {
      if (isBinary) return fail(CloseCode.badFrame, 'binary frames are not accepted');
      const raw = data as Buffer;
      // A reading that will be refused anyway is answered from its first bytes: in a reconnect
      // storm thousands of full snapshots arrive at once, and parsing each only to refuse it
      // would take the CPU the queue needs.
      if (mustRefuse()) {
        const peeked = peekReading(raw);
        if (peeked) return refuseBusy(peeked.seq);
      }
      const envelope = parseAgentEnvelope(raw.toString('utf8'));
      if (!envelope.ok) {
        send(ws, { v: PROTOCOL_VERSION, type: 'error', code: envelope.code, message: envelope.message });
        return fail(
          envelope.code === 'unsupported_version' ? CloseCode.unsupportedVersion : CloseCode.badFrame,
          envelope.message,
        );
      }
      // A slow database must not grow memory without bound: beyond a small queue per connection
      // and a bounded one per process a reading is refused with a back-off the agent obeys (it
      // re-sends the same frame afterwards). Refused before the schema check: validating
      // megabytes that will not be stored is what an overloaded server can least afford.
      const reading = envelope.type === 'snapshot' || envelope.type === 'delta';
      if (reading && mustRefuse()) {
        const seq = envelope.value.seq;
        return refuseBusy(Number.isSafeInteger(seq) && (seq as number) >= 0 ? (seq as number) : undefined);
      }
      const parsed = validateAgentEnvelope(envelope);
      if (!parsed.ok) {
        send(ws, { v: PROTOCOL_VERSION, type: 'error', code: parsed.code, message: parsed.message });
        return fail(CloseCode.badFrame, parsed.message);
      }
      const message = parsed.message;
      if (message.type === 'hello') {
        if (hostId) return fail(CloseCode.badFrame, 'duplicate hello');
        clearTimeout(helloTimer);
        waitsForProceed = message.capabilities.includes(INGEST_PROCEED_CAPABILITY);
        chain = chain.then(async () => {
          try {
            const registered = await handlers.onHello(principal, message);
            hostId = registered.hostId;
            connLog.info('agent connected', {
              hostId,
              machineId: message.machineId,
              agentVersion: message.agentVersion,
            });
            send(ws, {
              v: PROTOCOL_VERSION,
              type: 'welcome',
              hostId,
              serverVersion: options.serverVersion,
              agentVersion: options.agentVersion?.(),
              snapshotIntervalSeconds: options.snapshotIntervalSeconds,
            });
            options.jobs?.attach(orgId, registered.hostId, sendToAgent);
          } catch (error) {
            connLog.error('hello failed', { error: String(error) });
            fail(CloseCode.serverError, 'could not register host');
          }
        });
        return;
      }
      if (!hostId) {
        send(ws, { v: PROTOCOL_VERSION, type: 'error', code: 'not_ready', message: 'send hello first' });
        return fail(CloseCode.badFrame, 'message before hello');
      }
      const currentHost = hostId;
      if (message.type === 'heartbeat') {
        // At most one waiting per connection: with a slow database they would pile up.
        if (heartbeatPending) return;
        heartbeatPending = true;
        chain = chain.then(() =>
          handlers
            .onHeartbeat(orgId, currentHost)
            .catch(() => undefined)
            .finally(() => {
              heartbeatPending = false;
            }),
        );
        return;
      }
      if (message.type !== 'snapshot' && message.type !== 'delta') {
        // Job answers are applied in arrival order; a failure is logged and the agent's next
        // re-delivered answer (the server re-sends until it has one) tries again.
        const jobs = options.jobs;
        if (!jobs) {
          connLog.warn('job frame but this server runs no jobs', { hostId: currentHost, type: message.type });
          return;
        }
        // Bounded like snapshots: a flood of frames cannot grow memory; a dropped answer comes
        // again when the server re-sends the request it answers.
        if (pendingJobFrames >= maxPendingJobFrames) {
          connLog.warn('job frame dropped: too many waiting', { hostId: currentHost, jobId: message.jobId });
          return;
        }
        pendingJobFrames += 1;
        chain = chain.then(async () => {
          try {
            const outcome = await jobs.onFrame(orgId, currentHost, message);
            connLog.debug('job frame', { hostId: currentHost, type: message.type, ...outcome });
          } catch (error) {
            connLog.error('job frame failed', { hostId: currentHost, jobId: message.jobId, error: String(error) });
          } finally {
            pendingJobFrames -= 1;
          }
        });
        return;
      }
      if (!takeKeptPlace() && !queue.admit()) return refuseBusy(message.seq);
      pending += 1;
      const readingOf: Reading =
        message.type === 'snapshot'
          ? { type: 'snapshot', stream: message.stream, seq: message.seq, inventory: message.inventory }
          : { type: 'delta', stream: message.stream, seq: message.seq, baseSeq: message.baseSeq, delta: message.delta };
      chain = chain.then(async () => {
        try {
          const outcome = await queue.run(() => handlers.onReading(orgId, currentHost, readingOf));
          if (outcome.status === 'resync') {
            connLog.info('delta does not apply: asking for a full snapshot', {
              hostId: currentHost,
              seq: message.seq,
              reason: outcome.reason,
            });
            send(ws, { v: PROTOCOL_VERSION, type: 'resync', seq: message.seq, reason: outcome.reason });
            return;
          }
          if (outcome.status === 'duplicate') {
            connLog.debug('re-sent reading acked, not applied again', { hostId: currentHost, seq: message.seq });
          }
          send(ws, { v: PROTOCOL_VERSION, type: 'ack', seq: message.seq });
        } catch (error) {
          connLog.error('reading ingest failed', {
            hostId: currentHost,
            type: message.type,
            seq: message.seq,
            error: String(error),
          });
          send(ws, {
            v: PROTOCOL_VERSION,
            type: 'error',
            code: 'ingest_failed',
            message: 'reading could not be stored',
            seq: message.seq,
          });
        } finally {
          pending -= 1;
        }
      });
    });

    ws.on('error', (error) => connLog.warn('agent socket error', { error: error.message, hostId }));
    ws.on('close', (code) => {
      clearTimeout(helloTimer);
      line.delete(keep);
      if (takeKeptPlace()) queue.release();
      const sockets = agentId ? byAgent.get(agentId) : undefined;
      sockets?.delete(ws);
      if (agentId && sockets?.size === 0) byAgent.delete(agentId);
      if (!hostId) return;
      const closedHost = hostId;
      options.jobs?.detach(orgId, closedHost, sendToAgent);
      connLog.info('agent disconnected', { hostId: closedHost, code });
      chain = chain.then(() =>
        handlers.onDisconnect(orgId, closedHost).catch((error) => {
          connLog.error('disconnect bookkeeping failed', { error: String(error) });
        }),
      );
    });
  }

  return {
    handleUpgrade(req, socket, head) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== AGENT_WS_PATH) return false;
      const remote = req.socket.remoteAddress ?? 'unknown';
      const token = bearerToken(req.headers.authorization);
      if (!token) {
        log.warn('agent upgrade without credentials', { remote });
        rejectUpgrade(socket, 401, 'Unauthorized');
        return true;
      }
      authenticate(token).then(
        (principal) => {
          if (!principal) {
            log.warn('agent upgrade with an invalid credential', { remote });
            rejectUpgrade(socket, 401, 'Unauthorized');
            return;
          }
          wss.handleUpgrade(req, socket, head, (ws) => serve(ws, principal, remote));
        },
        (error) => {
          log.error('agent authentication failed', { remote, error: String(error) });
          rejectUpgrade(socket, 500, 'Internal Server Error');
        },
      );
      return true;
    },
    handleRequest(req, res) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== AGENT_ENROLL_PATH || !options.enroll) return false;
      const remote = req.socket.remoteAddress ?? 'unknown';
      handleEnrollRequest(req, res, { enroll: options.enroll, log, limited: () => !enrollLimiter(remote) });
      return true;
    },
    disconnectAgent(agentId, reason) {
      const sockets = byAgent.get(agentId);
      if (!sockets) return false;
      log.info('disconnecting agent', { agentId, reason, sockets: sockets.size });
      for (const ws of sockets) ws.close(CloseCode.forbidden, reason.slice(0, 120));
      byAgent.delete(agentId);
      return true;
    },
    connectedAgents: () => wss.clients.size,
    ingestStats: () => ({ ...queue.stats(), refusedBusy, line: line.size }),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pinger);
        for (const ws of wss.clients) ws.close(CloseCode.goingAway, 'server shutting down');
        wss.close(() => resolve());
      }),
  };
}

/** A fixed-window counter per key; returns false once the key is over its limit. */
function createRateLimiter({ max, windowMs }: { max: number; windowMs: number }) {
  const windows = new Map<string, { start: number; count: number }>();
  return (key: string, now = Date.now()) => {
    // Dropping expired windows on the way keeps the map bounded by recent clients.
    if (windows.size > 10_000) {
      for (const [k, w] of windows) if (now - w.start >= windowMs) windows.delete(k);
    }
    const current = windows.get(key);
    if (!current || now - current.start >= windowMs) {
      windows.set(key, { start: now, count: 1 });
      return true;
    }
    current.count += 1;
    return current.count <= max;
  };
}
