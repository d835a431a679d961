// `npm run bench -- ingest [--agents 5000] [--seconds 90] [--start 250] [--interval 60] [--keep-going]`
//
// Fleet-scale ingest against real PostgreSQL (BALLAST_TEST_DATABASE_URL, `scripts/services.sh
// start`). The server is bench/_ingest-server.ts in a child process: the production agent
// gateway, ingest queue and ingest handlers on a plain HTTP server, without Next.js (building
// and serving Next beside thousands of sockets on a shared 2-core machine would measure the
// build, not ingest; the agent path never touches Next). Agents authenticate with the shared
// agent token, so hosts are keyed by machine ID as for a development install.
//
// For N = --start, doubling, up to --agents: a fresh database; N simulated agents connect over
// loopback WebSockets, each with 100 to 400 images (2% of them replaced per reading, logs and
// disk use growing), and send a reading every --interval seconds (first one at a random offset,
// ±5% jitter): a full snapshot first, then deltas on the last acked reading, as the agent does.
// They re-send the same frame after `busy` (on `proceed` when in line, otherwise after the
// back-off) and answer `resync` with a full snapshot. Once every agent's first reading is stored
// (the warm-up), --seconds of steady state: p50/p99 ack latency (from the send the server
// admitted), p50/p99 delay of a reading sent in the steady state (from its first send, so
// refusals and waits in line count), the server's peak RSS (VmRSS of its /proc status, sampled
// every second). Then a reconnect storm: every agent drops its socket at once, reconnects and
// sends a full snapshot; the time until all are acked. Then the database is checked: every
// agent's last acked seq equals host_inventories.seq, the hourly
// samples of its host equal the number of its acked readings (none lost, none twice), and for a
// sample of agents the stored inventory equals the agent's own at its last acked reading.
// Stepping stops at the first N that misses a target; the largest sustained N is reported.
// Targets (issue): p99 ≤ 250 ms, storm ≤ 120 s, server RSS ≤ 1 GiB, zero lost or duplicated.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fullInventorySql, migrate } from '@ballast/db';
import {
  AGENT_WS_PATH,
  INGEST_PROCEED_CAPABILITY,
  type Inventory,
  inventoryByKey,
  PROCEED_GRACE_SECONDS,
  type ServerMessage,
} from '@ballast/shared';
import pg from 'pg';
import WebSocket from 'ws';
import { deltaFor, inventoryFor } from './_ingest-inventory.js';

const TARGETS = { p99Ms: 250, stormSeconds: 120, rssBytes: 1024 ** 3 };
const CONTENT_SAMPLE = 25;
/** Longest wait for every agent's first reading before the steady state starts regardless. */
const WARMUP_LIMIT_MS = 600_000;

/** JSON with object keys sorted, to compare documents whatever order PostgreSQL's jsonb keeps keys in. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
const here = path.dirname(fileURLToPath(import.meta.url));

const { values: flags } = parseArgs({
  options: {
    agents: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '90' },
    start: { type: 'string', default: '250' },
    interval: { type: 'string', default: '60' },
    // Keep stepping past a step that misses a latency target (to see how latency grows); a
    // storm that never completes still ends the run.
    'keep-going': { type: 'boolean', default: false },
  },
});
const maxAgents = Number(flags.agents);
const seconds = Number(flags.seconds);
const startAgents = Math.min(Number(flags.start), maxAgents);
const intervalSeconds = Number(flags.interval);
if (![maxAgents, seconds, startAgents, intervalSeconds].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('bench ingest: --agents, --seconds, --start and --interval must be positive integers');
  process.exit(2);
}
const serverUrl = process.env.BALLAST_TEST_DATABASE_URL;
if (!serverUrl) {
  console.error('bench ingest: BALLAST_TEST_DATABASE_URL is not set (scripts/services.sh start, then source its env)');
  process.exit(2);
}
const log = (msg: string) => process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);

/** Two descriptors per agent (simulator and server end) plus slack; raised to the hard limit if short. */
function ensureFileLimit(): void {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.match(/\d+|unlimited/g) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  const needed = maxAgents * 2 + 1_000;
  if (soft === undefined || soft >= needed || process.env.BENCH_INGEST_LIMIT_RAISED) return;
  if (hard !== undefined && hard < needed) log(`warning: hard open-files limit ${hard} is below ${needed}`);
  log(`raising the open-files limit from ${soft} to ${hard === Infinity ? 'unlimited' : hard}`);
  const self = fileURLToPath(import.meta.url);
  const result = spawnSync(
    'sh',
    [
      '-c',
      'ulimit -n "$(ulimit -Hn)" && exec "$@"',
      'sh',
      process.execPath,
      ...process.execArgv,
      self,
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit', env: { ...process.env, BENCH_INGEST_LIMIT_RAISED: '1' } },
  );
  process.exit(result.status ?? 1);
}
ensureFileLimit();
rmSync(path.join(here, 'results', 'ingest-server.log'), { force: true });

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

interface Phase {
  latencies: number[];
  /**
   * From a reading's first send to its ack, refusals and waits in line included, for readings
   * first sent in this phase; `carriedOver` counts those sent before it (during the warm-up).
   */
  delays: number[];
  carriedOver: number;
  startedAt: number;
  /** `proceed` messages that found the agent not waiting for one (a place kept for nothing). */
  strayProceeds: number;
  busy: number;
  errors: number;
  resyncs: number;
  full: number;
  deltas: number;
  bytes: number;
}
const newPhase = (): Phase => ({
  latencies: [],
  delays: [],
  carriedOver: 0,
  startedAt: performance.now(),
  strayProceeds: 0,
  busy: 0,
  errors: 0,
  resyncs: 0,
  full: 0,
  deltas: 0,
  bytes: 0,
});

/**
 * One simulated agent, speaking the protocol as `ballast-agent run` does: a stream with a seq,
 * a full snapshot first and then deltas on the last acked reading, at most one frame in flight,
 * the same frame re-sent after a `busy` back-off, a full snapshot after a `resync`.
 */
class SimAgent {
  ws: WebSocket | null = null;
  readonly stream: string;
  seq = 0;
  gen = 0;
  lastAcked = -1;
  ackedCount = 0;
  /** The generation and reading time of the last acked reading: the base of the next delta. */
  acked: { gen: number; at: Date } | null = null;
  inFlight: { seq: number; sentAt: number } | null = null;
  /** The frame not yet acked (re-sent unchanged after a back-off or a reconnect). */
  pending: {
    seq: number;
    gen: number;
    at: Date;
    text: string | Buffer;
    full: boolean;
    firstSentAt?: number;
  } | null = null;
  forceFull = false;
  notBefore = 0;
  /** Refused with `queued`: waiting for `proceed`. */
  queued = false;
  timer: ReturnType<typeof setTimeout> | null = null;
  onAcked: (() => void) | null = null;
  phase: Phase;

  constructor(
    readonly index: number,
    readonly url: string,
    readonly token: string,
    phase: Phase,
    runId: string,
  ) {
    this.phase = phase;
    this.stream = `bench-${runId}-${index}`;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, {
        headers: { authorization: `Bearer ${this.token}` },
        perMessageDeflate: false,
      });
      this.ws = ws;
      ws.on('error', (error) => reject(error));
      // A connection closed before its welcome (a hello timeout under load, say) is retried.
      ws.on('close', (code) => reject(new Error(`closed before welcome (${code})`)));
      ws.on('open', () =>
        ws.send(
          JSON.stringify({
            v: 1,
            type: 'hello',
            agentVersion: 'bench',
            machineId: `bench-machine-${this.index}`,
            hostname: `bench-host-${this.index}`,
            capabilities: ['inventory.v1', 'inventory.delta.v1', INGEST_PROCEED_CAPABILITY],
          }),
        ),
      );
      ws.on('message', (data) => {
        const message = JSON.parse(data.toString()) as ServerMessage;
        if (message.type === 'welcome') resolve();
        else if (message.type === 'ack') this.ack(message.seq);
        else if (message.type === 'resync') this.resync(message.seq);
        else if (message.type === 'error') this.refused(message);
        else if (message.type === 'proceed') this.proceed();
      });
    });
  }

  private ack(seq: number): void {
    if (this.inFlight?.seq !== seq || this.pending?.seq !== seq) return;
    this.phase.latencies.push(performance.now() - this.inFlight.sentAt);
    const firstSentAt = this.pending.firstSentAt ?? this.inFlight.sentAt;
    if (firstSentAt >= this.phase.startedAt) this.phase.delays.push(performance.now() - firstSentAt);
    else this.phase.carriedOver += 1;
    if (this.pending.full) this.phase.full += 1;
    else this.phase.deltas += 1;
    this.inFlight = null;
    this.lastAcked = seq;
    this.ackedCount += 1;
    this.acked = { gen: this.pending.gen, at: this.pending.at };
    this.pending = null;
    this.onAcked?.();
  }

  private resync(seq: number): void {
    if (this.inFlight?.seq !== seq) return;
    this.phase.resyncs += 1;
    this.inFlight = null;
    this.pending = null;
    this.forceFull = true;
    this.send();
  }

  private refused(message: Extract<ServerMessage, { type: 'error' }>): void {
    if (message.seq !== undefined && this.inFlight?.seq === message.seq) this.inFlight = null;
    if (message.code === 'busy') {
      // Obeys the back-off, then sends the same frame again.
      this.phase.busy += 1;
      // As the agent does: a random part of a quarter of the wait, at most 2 s.
      const baseMs = (message.retryAfterSeconds ?? 30) * 1000;
      // Queued: `proceed` says when; the grace covers a server that never sends it.
      const waitMs =
        baseMs + Math.random() * Math.min(baseMs / 4, 2_000) + (message.queued ? PROCEED_GRACE_SECONDS * 1000 : 0);
      this.queued = message.queued === true;
      this.notBefore = Date.now() + waitMs;
      this.schedule(waitMs);
    } else {
      this.phase.errors += 1;
    }
  }

  /** A place in the server's queue is kept for this agent: the held frame goes now. */
  private proceed(): void {
    if (!this.queued) {
      this.phase.strayProceeds += 1;
      return;
    }
    this.queued = false;
    this.notBefore = 0;
    this.schedule(0);
  }

  /** The next reading: a delta on the acked one, or a full snapshot (first, after resync, or `full`). */
  private nextFrame(full: boolean): NonNullable<SimAgent['pending']> {
    this.seq += 1;
    this.gen += 1;
    const at = new Date();
    if (full || this.forceFull || !this.acked) {
      this.forceFull = false;
      const inventory = inventoryFor(this.index, this.gen, at);
      const text = JSON.stringify({ v: 1, type: 'snapshot', stream: this.stream, seq: this.seq, inventory });
      return { seq: this.seq, gen: this.gen, at, text, full: true };
    }
    const text = JSON.stringify({
      v: 1,
      type: 'delta',
      stream: this.stream,
      seq: this.seq,
      baseSeq: this.lastAcked,
      delta: deltaFor(this.index, this.acked, { gen: this.gen, at }),
    });
    return { seq: this.seq, gen: this.gen, at, text, full: false };
  }

  /**
   * Makes a full snapshot the pending frame ahead of the reconnect storm, as a real agent has
   * its reading in its spool when its connection drops: the storm then measures the server, not
   * the simulator building thousands of inventories on the server's cores. Kept outside the
   * JavaScript heap until sent.
   */
  prepareFull(): void {
    const frame = this.nextFrame(true);
    this.pending = { ...frame, text: Buffer.from(frame.text) };
  }

  /** Sends the pending frame, or a new reading when nothing is pending. */
  send(full = false): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.inFlight || Date.now() < this.notBefore) return;
    if (full && this.pending) this.pending = null;
    this.pending ??= this.nextFrame(full);
    this.inFlight = { seq: this.pending.seq, sentAt: performance.now() };
    this.pending.firstSentAt ??= this.inFlight.sentAt;
    this.phase.bytes += this.pending.text.length;
    ws.send(this.pending.text, { binary: false });
  }

  /** Sends after `ms`, then every interval with ±5% jitter. */
  schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      // A timer can fire a moment before the back-off it waited for has passed (Date.now and
      // the timer clock differ by up to a millisecond); it then waits out the rest, not a whole
      // interval.
      const rest = this.notBefore - Date.now();
      if (rest > 0) return this.schedule(rest);
      this.send();
      this.schedule(intervalSeconds * 1000 * (0.95 + Math.random() * 0.1));
    }, ms);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

function readRss(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function startServer(databaseUrl: string, token: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, '_ingest-server.ts')], {
    env: { ...process.env, BENCH_DATABASE_URL: databaseUrl, BENCH_AGENT_TOKEN: token, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The server's whole log goes to bench/results/ingest-server.log; only its first lines are
  // echoed here, since a busy server logs its back-offs once a second.
  mkdirSync(path.join(here, 'results'), { recursive: true });
  const serverLog = createWriteStream(path.join(here, 'results', 'ingest-server.log'), { flags: 'a' });
  let warnings = 0;
  child.stderr?.on('data', (chunk: Buffer) => {
    serverLog.write(chunk);
    if (warnings++ < 5) process.stderr.write(`[server] ${chunk.toString().slice(0, 400)}`);
  });
  child.once('exit', () => serverLog.end());
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    lines.on('line', (line) => {
      const parsed = JSON.parse(line) as { port?: number };
      if (parsed.port) resolve(parsed.port);
    });
  });
  return { child, port };
}

async function freshDatabase(): Promise<string> {
  const name = 'ballast_bench_ingest';
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl as string);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  return url.toString();
}

interface StepResult {
  agents: number;
  warmupSeconds: number;
  steadySeconds: number;
  snapshotsAcked: number;
  deltasAcked: number;
  fullAcked: number;
  resyncs: number;
  meanFrameBytes: number;
  ackP50Ms: number;
  ackP99Ms: number;
  ackMaxMs: number;
  /** From a reading's first send to its ack: what refusals and waits in line add to the ack latency. */
  readingDelayP50Ms: number;
  readingDelayP99Ms: number;
  readingDelayMaxMs: number;
  /** Readings acked in the steady state but first sent during the warm-up (not in the delays). */
  carriedOverFromWarmup: number;
  busyRefusals: number;
  errors: number;
  stormSeconds: number | null;
  stormP99Ms: number;
  stormBusyRefusals: number;
  serverRssPeakBytes: number;
  lost: number;
  duplicated: number;
  contentChecked: number;
  contentMismatches: number;
  sustained: boolean;
  missed: string[];
}

async function step(n: number): Promise<StepResult> {
  log(`step: ${n} agents`);
  const databaseUrl = await freshDatabase();
  const token = randomBytes(24).toString('base64url');
  const { child, port } = await startServer(databaseUrl, token);
  const pid = child.pid as number;
  let rssPeak = 0;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, readRss(pid));
  }, 1_000);
  const url = `ws://127.0.0.1:${port}${AGENT_WS_PATH}`;
  const warmup = newPhase();
  const runId = randomBytes(4).toString('hex');
  const agents = Array.from({ length: n }, (_, i) => new SimAgent(i, url, token, warmup, runId));
  try {
    // Connect in batches, as a fleet comes up over a minute rather than in one instant.
    for (let from = 0; from < n; from += 100) await Promise.all(agents.slice(from, from + 100).map((a) => a.connect()));
    log(`${n} connected (server RSS ${(readRss(pid) / 2 ** 20).toFixed(0)} MiB)`);
    // Warm-up: each agent's first reading, a full snapshot, at a random offset within the
    // interval; the steady state is measured once every agent has one stored, so it is what a
    // running fleet sends (deltas), not its first contact (measured by the storm).
    const warmupStart = performance.now();
    for (const a of agents) a.schedule(Math.random() * intervalSeconds * 1000);
    const warmupUntil = Date.now() + WARMUP_LIMIT_MS;
    while (agents.some((a) => a.ackedCount === 0) && Date.now() < warmupUntil) {
      await new Promise((r) => setTimeout(r, 500));
    }
    const warmupSeconds = (performance.now() - warmupStart) / 1000;
    log(`warm-up: first readings stored in ${warmupSeconds.toFixed(1)} s`);
    const steady = newPhase();
    for (const a of agents) a.phase = steady;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    for (const a of agents) a.stop();
    // Let snapshots in flight be answered, so the storm drops no socket with a write pending.
    const drainUntil = Date.now() + 60_000;
    while (agents.some((a) => a.inFlight) && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 200));
    const steadySorted = [...steady.latencies].sort((a, b) => a - b);
    const delaySorted = [...steady.delays].sort((a, b) => a - b);
    log(
      `steady: ${steady.latencies.length} acked, p50 ${percentile(steadySorted, 50).toFixed(0)} ms, p99 ${percentile(steadySorted, 99).toFixed(0)} ms, busy ${steady.busy}; from first send: p50 ${percentile(delaySorted, 50).toFixed(0)} ms, p99 ${percentile(delaySorted, 99).toFixed(0)} ms (${steady.carriedOver} first sent before)`,
    );

    // Reconnect storm: every socket drops at once; every agent reconnects and sends a full snapshot.
    for (const a of agents) a.prepareFull();
    log(`storm: ${n} full snapshots ready`);
    const storm = newPhase();
    const stormStart = performance.now();
    for (const a of agents) {
      a.phase = storm;
      a.inFlight = null;
      a.notBefore = 0;
      a.queued = false;
      a.ws?.terminate();
    }
    let pendingStorm = n;
    let failedConnects = 0;
    const connectErrors = new Map<string, number>();
    let lastPending = n;
    const progress = setInterval(() => {
      log(`storm: ${n - pendingStorm} of ${n} acked`);
      // No progress for 15 s: say what the agents still waiting are waiting for.
      if (pendingStorm === lastPending && pendingStorm > 0) {
        const waiting = agents.filter((a) => a.onAcked !== null);
        const now = Date.now();
        const states = new Map<string, number>();
        for (const a of waiting) {
          const state = [
            a.ws?.readyState === WebSocket.OPEN ? 'open' : 'not connected',
            a.inFlight ? 'frame in flight' : a.queued ? 'in line' : 'backing off',
            a.notBefore > now
              ? `next send in ${Math.ceil((a.notBefore - now) / 10_000) * 10} s or less`
              : 'free to send',
          ].join(', ');
          states.set(state, (states.get(state) ?? 0) + 1);
        }
        for (const [state, count] of states) log(`storm: ${count} waiting: ${state}`);
      }
      lastPending = pendingStorm;
    }, 15_000);
    const allAcked = new Promise<void>((resolve) => {
      for (const a of agents) {
        a.onAcked = () => {
          a.onAcked = null;
          pendingStorm -= 1;
          if (pendingStorm === 0) resolve();
        };
      }
    });
    // The limit counts from the drop, so agents that never get back in also end the storm.
    let stormTimer: ReturnType<typeof setTimeout> | undefined;
    let stormOver = false;
    const stormLimit = new Promise<'timeout'>((r) => {
      stormTimer = setTimeout(() => r('timeout'), 180_000);
    });
    const reconnected = Promise.all(
      agents.map(async (a) => {
        for (let attempt = 0; !stormOver; attempt++) {
          try {
            await a.connect();
            a.send();
            return;
          } catch (error) {
            failedConnects += 1;
            const reason = (error as Error).message.slice(0, 80);
            connectErrors.set(reason, (connectErrors.get(reason) ?? 0) + 1);
            await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt) * Math.random()));
          }
        }
      }),
    );
    await Promise.race([reconnected, stormLimit]);
    const outcome = await Promise.race([allAcked.then(() => 'done' as const), stormLimit]);
    clearInterval(progress);
    // A storm that ended must not keep the bench alive until its limit, nor one that timed out
    // keep reconnecting.
    clearTimeout(stormTimer);
    stormOver = true;
    const stormSeconds = outcome === 'done' ? (performance.now() - stormStart) / 1000 : null;
    for (const a of agents) a.stop();
    const stormSorted = [...storm.latencies].sort((a, b) => a - b);
    log(
      `storm: ${stormSeconds === null ? 'not all acked in 180 s' : `${stormSeconds.toFixed(1)} s`}, busy ${storm.busy}, stray proceeds ${storm.strayProceeds + steady.strayProceeds}, connections retried ${failedConnects}`,
    );
    for (const [reason, count] of connectErrors) log(`storm: ${count} connections failed: ${reason}`);
    const drainAfter = Date.now() + 60_000;
    while (agents.some((a) => a.inFlight) && Date.now() < drainAfter) await new Promise((r) => setTimeout(r, 200));

    // The database is the oracle: latest seq and hourly sample count per host.
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ machine_id: string; seq: string | null; samples: string | null }>(
      `SELECT h.machine_id, i.seq,
              (SELECT sum(samples) FROM host_usage_hourly u WHERE u.org_id = h.org_id AND u.host_id = h.id) AS samples
       FROM hosts h LEFT JOIN host_inventories i ON i.org_id = h.org_id AND i.host_id = h.id`,
    );
    // What is stored must be what the agent had at its last acked reading, whether that arrived
    // as a snapshot or as a chain of deltas: checked for an evenly spread sample of agents.
    const sample = agents
      .filter((_, k) => k % Math.max(1, Math.floor(n / CONTENT_SAMPLE)) === 0)
      .slice(0, CONTENT_SAMPLE);
    let contentMismatches = 0;
    for (const a of sample) {
      if (!a.acked) continue;
      const stored = await client.query<{ inventory: Inventory }>(
        `SELECT ${fullInventorySql('i')} AS inventory FROM host_inventories i JOIN hosts h ON h.org_id = i.org_id AND h.id = i.host_id
         WHERE h.machine_id = $1`,
        [`bench-machine-${a.index}`],
      );
      const expected = inventoryByKey(inventoryFor(a.index, a.acked.gen, a.acked.at));
      const got = stored.rows[0] ? inventoryByKey(stored.rows[0].inventory) : null;
      if (JSON.stringify(sortKeys(got)) !== JSON.stringify(sortKeys(expected))) contentMismatches += 1;
    }
    await client.end();
    const byMachine = new Map(rows.map((r) => [r.machine_id, r]));
    let lost = 0;
    let duplicated = 0;
    for (const a of agents) {
      const row = byMachine.get(`bench-machine-${a.index}`);
      const storedSeq = row?.seq === null || row?.seq === undefined ? -1 : Number(row.seq);
      const samples = Number(row?.samples ?? 0);
      if (storedSeq !== a.lastAcked || samples < a.ackedCount) lost += 1;
      else if (samples > a.ackedCount) duplicated += 1;
    }
    const result: StepResult = {
      agents: n,
      warmupSeconds: Math.round(warmupSeconds * 10) / 10,
      steadySeconds: seconds,
      snapshotsAcked: steady.latencies.length,
      deltasAcked: steady.deltas,
      fullAcked: steady.full,
      resyncs: steady.resyncs + storm.resyncs,
      meanFrameBytes: Math.round(steady.bytes / Math.max(1, steady.latencies.length + steady.busy)),
      ackP50Ms: Math.round(percentile(steadySorted, 50)),
      ackP99Ms: Math.round(percentile(steadySorted, 99)),
      ackMaxMs: Math.round(steadySorted.at(-1) ?? 0),
      readingDelayP50Ms: Math.round(percentile(delaySorted, 50)),
      readingDelayP99Ms: Math.round(percentile(delaySorted, 99)),
      readingDelayMaxMs: Math.round(delaySorted.at(-1) ?? 0),
      carriedOverFromWarmup: steady.carriedOver,
      busyRefusals: steady.busy,
      errors: steady.errors + storm.errors,
      stormSeconds: stormSeconds === null ? null : Math.round(stormSeconds * 10) / 10,
      stormP99Ms: Math.round(percentile(stormSorted, 99)),
      stormBusyRefusals: storm.busy,
      serverRssPeakBytes: rssPeak,
      lost,
      duplicated,
      contentChecked: sample.length,
      contentMismatches,
      sustained: false,
      missed: [],
    };
    if (result.ackP99Ms > TARGETS.p99Ms) result.missed.push(`p99 ${result.ackP99Ms} ms > ${TARGETS.p99Ms} ms`);
    if (result.stormSeconds === null || result.stormSeconds > TARGETS.stormSeconds)
      result.missed.push(`storm ${result.stormSeconds ?? '>180'} s > ${TARGETS.stormSeconds} s`);
    if (rssPeak > TARGETS.rssBytes) result.missed.push(`RSS ${(rssPeak / 2 ** 20).toFixed(0)} MiB > 1024 MiB`);
    if (lost > 0) result.missed.push(`${lost} agents lost snapshots`);
    if (duplicated > 0) result.missed.push(`${duplicated} agents have duplicated snapshots`);
    if (contentMismatches > 0) result.missed.push(`${contentMismatches} stored inventories differ from the agent's`);
    result.sustained = result.missed.length === 0;
    log(
      `step ${n}: ${result.sustained ? 'sustained' : `missed: ${result.missed.join('; ')}`}, RSS peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB, lost ${lost}, duplicated ${duplicated}`,
    );
    return result;
  } finally {
    clearInterval(sampler);
    for (const a of agents) {
      a.stop();
      a.ws?.terminate();
    }
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const started = new Date();
const steps: StepResult[] = [];
for (let n = startAgents; ; n = Math.min(maxAgents, n * 2)) {
  const result = await step(n);
  steps.push(result);
  if (n === maxAgents || result.stormSeconds === null) break;
  if (!result.sustained && !flags['keep-going']) break;
}
// The largest N such that it and every smaller step met the targets.
const firstMiss = steps.findIndex((s) => !s.sustained);
const largest = (firstMiss === -1 ? steps : steps.slice(0, firstMiss)).at(-1)?.agents ?? 0;
const summary = {
  name: 'ingest',
  startedAt: started.toISOString(),
  machine: { cpus: os.cpus().length, loadavgAtEnd: os.loadavg(), totalMemBytes: os.totalmem() },
  server: 'bench/_ingest-server.ts: production gateway + ingest queue + ingest handlers, no Next.js',
  intervalSeconds,
  targets: TARGETS,
  largestSustainedAgents: largest,
  steps,
};
await mkdir(path.join(here, 'results'), { recursive: true });
await writeFile(path.join(here, 'results', 'ingest.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log('\ningest bench (server, PostgreSQL and simulator on one machine)');
console.log('agents  acked  p50ms  p99ms  busy  delay_p99ms  storm_s  rss_MiB  lost  dup  sustained');
for (const s of steps) {
  console.log(
    [
      String(s.agents).padStart(6),
      String(s.snapshotsAcked).padStart(6),
      String(s.ackP50Ms).padStart(6),
      String(s.ackP99Ms).padStart(6),
      String(s.busyRefusals).padStart(5),
      String(s.readingDelayP99Ms).padStart(12),
      String(s.stormSeconds ?? '>180').padStart(8),
      (s.serverRssPeakBytes / 2 ** 20).toFixed(0).padStart(8),
      String(s.lost).padStart(5),
      String(s.duplicated).padStart(4),
      s.sustained ? '  yes' : `  no (${s.missed.join('; ')})`,
    ].join(' '),
  );
}
console.log(
  `largest sustained: ${largest} agents at a ${intervalSeconds} s interval (targets: p99 ≤ ${TARGETS.p99Ms} ms, storm ≤ ${TARGETS.stormSeconds} s, RSS ≤ 1 GiB)`,
);
console.log('wrote bench/results/ingest.json');
