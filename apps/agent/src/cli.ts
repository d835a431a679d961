import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { type CollectorReport, formatBytesDecimal, type Inventory, JOB_KINDS, ZInventory } from '@ballast/shared';
import { ContentAnalyzer } from './analysis/analyzer.js';
import type { HashBudget } from './analysis/budget.js';
import { DEFAULT_CONFIG_FILE } from './config/file.js';
import { selectCollectors } from './containerd/select.js';
import { DockerClient } from './docker/client.js';
import { EnrollError, requestEnrollment, storeCredential } from './enroll/enroll.js';
import {
  type CommonConfig,
  ConfigError,
  DEFAULT_STATE_DIR,
  type RawFlags,
  readEnv,
  resolveEnrollConfig,
  resolveRunConfig,
  resolveScanConfig,
} from './env.js';
import { nativeWalkDir, nativeWalkStatus, walkerName } from './fs/native-walk.js';
import { allowWalkWorkers } from './fs/walk-pool.js';
import { DEFAULT_HOST_PATHS, readMachineId } from './host.js';
import {
  doctorCommand,
  type InstallCommandDeps,
  installCommand,
  statusCommand,
  uninstallCommand,
  upgradeCommand,
} from './install/commands.js';
import { scannerJobEnv } from './jobs/env.js';
import { formatPlan, formatResult } from './jobs/format.js';
import { JobService } from './jobs/service.js';
import { createLogger, errorMessage, type Logger } from './log.js';
import { AgentRunner } from './run/agent.js';
import { Spool } from './run/spool.js';
import { Scanner } from './scanner.js';
import { StateStore } from './state/store.js';
import { AGENT_VERSION } from './version.js';

const COMMON_HELP = `Common options:
  --config PATH           JSON config file (default: $BALLAST_CONFIG, else ${DEFAULT_CONFIG_FILE}
                          when it exists); flags and environment override its keys
  --docker-host URL       Engine API endpoint: unix:///path/docker.sock or tcp://host:port
                          (default: $DOCKER_HOST, else unix:///var/run/docker.sock)
  --collector MODE        auto | docker | containerd | both (default auto: Docker when its
                          socket exists or is named, containerd when its socket is named or
                          k3s's or containerd's socket exists)
  --containerd-address P  containerd socket (default: $CONTAINERD_ADDRESS, else the first of
                          /run/k3s/containerd/containerd.sock, /run/containerd/containerd.sock)
  --containerd-namespace NS  (default: $CONTAINERD_NAMESPACE, else moby beside a Docker that
                          uses the containerd image store, else k8s.io)
  --state-dir DIR         where image last-used times, cached layer sizes, the fallback
                          machine ID and the job ledger (jobs/) are kept
                          (default: $BALLAST_STATE_DIR, else ${DEFAULT_STATE_DIR})
  --data-root DIR         where this process sees the engine's data root, when not at the
                          engine's DockerRootDir (for example a host path mounted elsewhere)
  --machine-id-file PATH  host identity file (default /etc/machine-id; a generated ID kept in
                          the state dir is used when it is missing)
  --label KEY=VALUE       host label sent with the inventory (repeatable)
  --slow-interval SECS    cadence of the expensive walks and build-cache read (default 600)
  --log-level LEVEL       debug | info | warn | error (default: $BALLAST_LOG_LEVEL, else info);
                          logs are JSON lines on stderr`;

const HELP = `ballast-agent ${AGENT_VERSION}: measures where a Docker host's disk goes and reports it to a Ballast server.

Usage:
  ballast-agent scan [--json] [--progress] [--analyze] [options]
  ballast-agent enroll --server URL --token TOKEN [--ca-file PATH] [--state-dir DIR]
  ballast-agent run --server URL [--token-file PATH | --token TOKEN] [--interval SECS] [--ca-file PATH] [options]
  ballast-agent plan <kind> [--param KEY=VALUE ...] [--params-json JSON] [--json] [options]
  ballast-agent execute --plan FILE [--json] [options]
  ballast-agent version
  ballast-agent install --server URL --token TOKEN [--read-only] [--ca-file PATH] [--label K=V]...
  ballast-agent uninstall [--purge] | status | doctor | upgrade [--server URL]
  ballast-agent <command> --help

Commands:
  scan      Measure everything once (every walk included) and print the inventory: a summary,
            or with --json one JSON document on stdout.
  enroll    Exchange an enrollment token (made by an admin) for this agent's own credential,
            stored mode 0600 in the state dir; run uses it.
  run       Stream the inventory to a Ballast server over a WebSocket until SIGTERM/SIGINT;
            plans and executes the remediation jobs the server sends.
  plan      Dry run of a remediation job: the exact objects, bytes, skips and notes.
  execute   Execute a plan made by 'plan' on this host, exactly and only once.
  version   Print the agent version.
  install   Enroll, then install the agent as a hardened systemd service (as root).
  uninstall Stop the service and remove what install wrote (the state too with --purge).
  status    Service state, config, enrolled agent ID and server reachability.
  doctor    Check socket access, data root, server reachability, TLS, clock skew and config.
  upgrade   Replace the installed agent with the one the server publishes, then restart.

Needs read access to the Docker socket and the engine's data root (or to containerd's socket
and snapshot directories on containerd and k3s hosts): run as root.
Exit status: 0 success, 1 runtime failure (engine unreachable, ...), 2 usage error.

${COMMON_HELP}`;

const SCAN_HELP = `Usage: ballast-agent scan [--json] [--progress] [--analyze] [options]

Measures the engine once, including every directory walk and the build cache, and prints
the inventory. Byte figures are exact: apparent bytes as Docker counts them plus allocated
blocks as du counts them.

  --json       print the inventory as one JSON document on stdout
  --progress   report each collector on stderr as it finishes (only when stderr is a terminal)
  --analyze    also hash every layer's files (sha256, cached by chainID in <state-dir>/content)
               and report duplicate layers, duplicate files and per-image waste
  --hash-rate MIB          with --analyze: read at most MIB MiB/s (default: unlimited)
  --hash-pass-seconds SECS with --analyze: start no new layer after SECS seconds

${COMMON_HELP}`;

const ENROLL_HELP = `Usage: ballast-agent enroll --server URL --token TOKEN [--ca-file PATH] [--state-dir DIR]

POSTs the enrollment token, this host's machine ID and hostname to <URL>/agent/v1/enroll
once, and stores the per-agent credential the server returns in <state-dir>/credential
(mode 0600). The enrollment token is not kept. Enrolling again replaces the credential.

  --server URL            Ballast server base URL (default: $BALLAST_SERVER)
  --token TOKEN           the enrollment token (ble_…) an admin created
  --token-file PATH       file holding the enrollment token instead (not visible in ps)
  --ca-file PATH          PEM CA bundle to trust for the server's certificate, in addition to
                          the system roots; certificates are always verified
  --state-dir DIR         where the credential is stored (default: $BALLAST_STATE_DIR, else ${DEFAULT_STATE_DIR})
  --machine-id-file PATH  host identity file (default /etc/machine-id)
  --log-level LEVEL       debug | info | warn | error`;

const RUN_HELP = `Usage: ballast-agent run --server URL [--token-file PATH | --token TOKEN] [options]

Connects to <URL>/agent/v1/ws (https:// becomes wss://) and sends hello. Every interval it
takes a reading of the inventory and sends it, a full snapshot first and then deltas; readings
the server has not acked wait in <state-dir>/spool/ across reconnects and restarts. Lists,
statfs and log sizes are refreshed for every reading; the directory walks and the build cache
on the slow cadence. Reconnects with jittered backoff
(1 s to 60 s; every 5 min while the server refuses the token). SIGTERM or SIGINT closes the
connection cleanly and exits 0.

  --server URL        Ballast server base URL (default: $BALLAST_SERVER)
  --token-file PATH   file holding the agent token
  --token TOKEN       the agent token (default: $BALLAST_TOKEN; a flag is visible in ps);
                      without either, the credential stored by enroll in the state dir
  --interval SECS     seconds between readings (default 60; the server's requested interval
                      is used when it is longer)
  --ca-file PATH      PEM CA bundle to trust for the server's certificate, in addition to the
                      system roots; certificates are always verified
  --hash-rate MIB     content analysis (duplicate layers and files, image waste) reads at most
                      MIB MiB/s on the slow cadence (default 32; 0 turns the analysis off)
  --hash-pass-seconds SECS  start no new layer hash after SECS seconds of a slow pass (default 120)

${COMMON_HELP}`;

const PLAN_HELP = `Usage: ballast-agent plan <kind> [--param KEY=VALUE ...] [--params-json JSON] [--json] [options]

Computes a dry run of one remediation job on this host and stores it in the job ledger
(<state-dir>/jobs/) under a new local job ID. Nothing is changed. Kinds:
  ${JOB_KINDS.join('\n  ')}

  --param KEY=VALUE   one parameter; VALUE is read as JSON when it parses (numbers, true,
                      ["a","b"]), else as a string; a repeated KEY collects an array
  --params-json JSON  all parameters as one JSON object (--param entries override its keys)
  --json              print the plan as JSON (the input of 'execute --plan')

Examples:
  ballast-agent plan images.pruneDangling --json > plan.json
  ballast-agent plan images.pruneUnused --param minAgeDays=30 --param keepNewestTagsPerRepository=1
  ballast-agent plan volumes.remove --param volumes=old-data --param confirmDataLoss=true

The agent config's remediation section (enabled, disabledKinds, protectedImagePatterns,
protectedLabels, daemonConfigFile) applies; a disabled kind is refused (exit 1).

${COMMON_HELP}`;

const EXECUTE_HELP = `Usage: ballast-agent execute --plan FILE [--json] [options]

Executes a plan printed by 'plan --json' on this same host and engine: only the planned
objects, each re-checked right before it is acted on (still there with the same ID, used by
no container in any state, not protected), skipping any that changed. A plan whose digest
or engine differs from what this agent stored is refused. Executing the same plan again
prints the stored result and acts on nothing; an execution cut short resumes where it
stopped. One remediation runs at a time per host.

  --plan FILE   the plan JSON ('-' reads stdin)
  --json        print the result as JSON

${COMMON_HELP}`;

type FlagSpec = NonNullable<ParseArgsConfig['options']>;

const COMMON_OPTIONS = {
  config: { type: 'string' },
  'docker-host': { type: 'string' },
  collector: { type: 'string' },
  'containerd-address': { type: 'string' },
  'containerd-namespace': { type: 'string' },
  'state-dir': { type: 'string' },
  'data-root': { type: 'string' },
  'machine-id-file': { type: 'string' },
  label: { type: 'string', multiple: true },
  'slow-interval': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies FlagSpec;

const SCAN_OPTIONS = {
  ...COMMON_OPTIONS,
  json: { type: 'boolean' },
  progress: { type: 'boolean' },
  analyze: { type: 'boolean' },
  'hash-rate': { type: 'string' },
  'hash-pass-seconds': { type: 'string' },
} satisfies FlagSpec;
const RUN_OPTIONS = {
  ...COMMON_OPTIONS,
  server: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  interval: { type: 'string' },
  'ca-file': { type: 'string' },
  'hash-rate': { type: 'string' },
  'hash-pass-seconds': { type: 'string' },
} satisfies FlagSpec;

const PLAN_OPTIONS = {
  ...COMMON_OPTIONS,
  json: { type: 'boolean' },
  param: { type: 'string', multiple: true },
  'params-json': { type: 'string' },
} satisfies FlagSpec;

const EXECUTE_OPTIONS = {
  ...COMMON_OPTIONS,
  json: { type: 'boolean' },
  plan: { type: 'string' },
} satisfies FlagSpec;

const ENROLL_OPTIONS = {
  config: { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-file': { type: 'string' },
  'state-dir': { type: 'string' },
  'machine-id-file': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies FlagSpec;

class UsageError extends Error {}

function out(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

function parseFlags(args: string[], options: FlagSpec): RawFlags {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
    return values;
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(errorMessage(err));
  }
}

/** `--param` values: JSON when they parse, else strings; a repeated key collects an array. */
export function parseJobParams(entries: readonly string[], json: string | undefined): Record<string, unknown> {
  let params: Record<string, unknown> = {};
  if (json !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (err) {
      throw new UsageError(`--params-json is not valid JSON: ${errorMessage(err)}`);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      throw new UsageError('--params-json must be a JSON object');
    }
    params = { ...(value as Record<string, unknown>) };
  }
  const seen = new Map<string, unknown[]>();
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param ${entry}: expected KEY=VALUE`);
    const key = entry.slice(0, eq);
    const raw = entry.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {}
    const list = seen.get(key) ?? [];
    list.push(value);
    seen.set(key, list);
  }
  for (const [key, values] of seen) {
    params[key] = values.length === 1 ? values[0] : values.flat();
  }
  return params;
}

function splitPositionals(args: string[], options: FlagSpec): { flags: RawFlags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { flags: values, positionals };
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

async function openJobs(cfg: CommonConfig, log: Logger) {
  const { client, scanner, docker } = await openScanner(cfg, log);
  const env = scannerJobEnv({
    client,
    scanner,
    docker,
    remediation: cfg.remediation,
    dataRootOverride: cfg.dataRootOverride,
  });
  return {
    client: {
      close() {
        client.close();
        scanner.close();
      },
    },
    jobs: new JobService(env, cfg.stateDir),
  };
}

async function printRejection(json: boolean, code: string, message: string): Promise<number> {
  if (json) await out(`${JSON.stringify({ rejected: { code, message } })}\n`);
  process.stderr.write(`ballast-agent: refused (${code}): ${message}\n`);
  return 1;
}

async function planCommand(args: string[]): Promise<number> {
  const { flags, positionals } = splitPositionals(args, PLAN_OPTIONS);
  if (flags.help) {
    await out(`${PLAN_HELP}\n`);
    return 0;
  }
  const [kind, extra] = positionals;
  if (!kind) throw new UsageError('plan needs a job kind');
  if (extra) throw new UsageError(`unexpected argument: ${extra}`);
  const params = parseJobParams(
    (flags.param as string[] | undefined) ?? [],
    flags['params-json'] as string | undefined,
  );
  const { param: _p, 'params-json': _j, ...common } = flags;
  const cfg = resolveScanConfig(common, readEnv());
  const log = createLogger(cfg.logLevel);
  const { client, jobs } = await openJobs(cfg, log);
  try {
    const jobId = `local-${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
    const outcome = await jobs.plan(jobId, kind, params);
    if (!outcome.ok) return await printRejection(cfg.json, outcome.code, outcome.message);
    await out(cfg.json ? `${JSON.stringify(outcome.plan)}\n` : formatPlan(outcome.plan));
    return 0;
  } finally {
    client.close();
  }
}

async function executeCommand(args: string[]): Promise<number> {
  const flags = parseFlags(args, EXECUTE_OPTIONS);
  if (flags.help) {
    await out(`${EXECUTE_HELP}\n`);
    return 0;
  }
  const planFile = flags.plan as string | undefined;
  if (!planFile) throw new UsageError('execute needs --plan FILE');
  let plan: unknown;
  try {
    plan = JSON.parse(readFileSync(planFile === '-' ? 0 : planFile, 'utf8'));
  } catch (err) {
    throw new UsageError(`--plan ${planFile}: ${errorMessage(err)}`);
  }
  const { plan: _p, ...common } = flags;
  const cfg = resolveScanConfig(common, readEnv());
  const log = createLogger(cfg.logLevel);
  const { client, jobs } = await openJobs(cfg, log);
  try {
    const showProgress = !cfg.json && process.stderr.isTTY === true;
    const outcome = await jobs.execute(plan, undefined, {
      onProgress: showProgress
        ? (p) => p.item && process.stderr.write(`  [${p.done}/${p.total}] ${p.item.outcome} ${p.item.name}\n`)
        : undefined,
    });
    if (!outcome.ok) return await printRejection(cfg.json, outcome.code, outcome.message);
    if (outcome.stored) log.info('already executed: printing the stored result', { jobId: outcome.result.jobId });
    await out(cfg.json ? `${JSON.stringify(outcome.result)}\n` : formatResult(outcome.result));
    return outcome.result.status === 'failed' ? 1 : 0;
  } finally {
    client.close();
  }
}

async function openScanner(
  cfg: CommonConfig,
  log: Logger,
  analysis: HashBudget | null = null,
  watchEngineEvents = false,
) {
  const client = new DockerClient(cfg.docker);
  const store = await StateStore.open(cfg.stateDir, log);
  nativeWalkDir(cfg.stateDir);
  const walker = nativeWalkStatus();
  log.debug('directory walker', walker.loaded ? { walker: 'native' } : { walker: 'javascript', reason: walker.reason });
  const selection = selectCollectors({
    mode: cfg.collector,
    dockerExplicit: cfg.dockerExplicit,
    dockerSocket: cfg.docker.kind === 'unix' ? cfg.docker.socketPath : null,
    containerdAddress: cfg.containerdAddress,
    containerdNamespace: cfg.containerdNamespace,
  });
  log.debug('collectors selected', { docker: selection.docker.reason, containerd: selection.containerd.reason });
  const ctrd = selection.containerd;
  const scanner = new Scanner({
    docker: selection.docker.used,
    containerd:
      ctrd.used && ctrd.address
        ? { address: ctrd.address, namespace: ctrd.namespace, onlyForDockerStore: ctrd.onlyForDockerStore }
        : null,
    selection: {
      docker: selection.docker,
      containerd: { used: ctrd.used, reason: ctrd.reason },
    },
    client,
    store,
    log,
    hostPaths: { ...DEFAULT_HOST_PATHS, machineIdFile: cfg.machineIdFile },
    hostLabels: cfg.hostLabels,
    dataRootOverride: cfg.dataRootOverride,
    mountInfoPath: '/proc/self/mountinfo',
    analyzer: analysis ? new ContentAnalyzer(cfg.stateDir, analysis) : null,
    watchEngineEvents,
  });
  return { client, scanner, docker: selection.docker.used };
}

function summary(inv: Inventory): string {
  const b = formatBytesDecimal;
  const t = inv.totals;
  const fs = inv.filesystem;
  const lines = [
    inv.engine.kind === 'containerd'
      ? `containerd ${inv.engine.version} (namespace ${inv.containerd?.namespace ?? '?'}), snapshotter ${inv.engine.storageDriver}, root ${inv.engine.dataRoot || 'unknown'}`
      : `Docker ${inv.engine.version} (API ${inv.engine.negotiatedApiVersion}), ${inv.engine.storageDriver}, data root ${inv.engine.dataRoot}`,
    fs
      ? `Filesystem ${fs.mountPoint ?? fs.path} (${fs.fsType ?? '?'} on ${fs.device ?? '?'}): ${b(fs.usedBytes)} used of ${b(fs.sizeBytes)}, ${b(fs.freeBytes)} available`
      : 'Filesystem: not measured',
    '',
    `Images        ${String(t.imageCount).padStart(5)}   ${b(t.imagesBytes).padStart(9)}   (${b(inv.images.filter((i) => i.containerIds.length === 0).reduce((s, i) => s + i.exclusiveBytes, 0))} exclusive to images no container uses)`,
    `Containers    ${String(t.containerCount).padStart(5)}   ${b(t.containersBytes).padStart(9)}   writable layers`,
    `Container logs        ${b(t.containerLogsBytes).padStart(9)}`,
    `Volumes       ${String(t.volumeCount).padStart(5)}   ${b(t.volumesBytes).padStart(9)}   (${b(inv.volumes.filter((v) => v.containerIds.length === 0).reduce((s, v) => s + (v.sizeBytes ?? 0), 0))} in volumes no container references)`,
    `Build cache   ${String(inv.buildCache.records).padStart(5)}   ${b(t.buildCacheBytes).padStart(9)}   (${b(inv.buildCache.reclaimableBytes)} reclaimable)`,
    `Unattributed          ${t.unattributedBytes === null ? 'not measured' : b(t.unattributedBytes).padStart(9)}   (allocated, data root only)`,
  ];
  if (inv.duplicates) {
    const d = inv.duplicates;
    const layersWasted = d.layers.reduce((s, l) => s + l.wastedBytes, 0);
    const imageWaste = (inv.waste ?? []).reduce((s, w) => s + w.wastedBytes, 0);
    lines.push(
      '',
      `Content analysis: ${d.analyzedLayers} layers hashed, ${d.pendingLayers} pending`,
      `Duplicate layers      ${String(d.layers.length).padStart(5)}   ${b(layersWasted).padStart(9)}   stored more than once`,
      `Duplicate files       ${String(d.fileGroups).padStart(5)}   ${b(d.filesWastedBytes).padStart(9)}   (files of ${b(d.minFileBytes)} or more)`,
      `Image waste           ${String((inv.waste ?? []).length).padStart(5)}   ${b(imageWaste).padStart(9)}   overwritten or deleted by upper layers`,
    );
  }
  const c = inv.containerd;
  if (c) {
    lines.push(
      '',
      `containerd ${c.namespace}: content store ${b(c.contentBytes)} in ${c.contentBlobs} blobs, snapshots ${b(c.snapshotBytes)} in ${c.snapshotCount}`,
      `  held twice: ${b(c.dualStorage.layerBlobBytes)} of compressed layer blobs whose layers are unpacked (${b(c.dualStorage.unpackedBytes)} unpacked)`,
      `  a garbage collection would return ${b(c.gc.unreferencedContentBytes + c.gc.unreferencedSnapshotBytes)} (${c.gc.unreferencedContentBlobs} blobs, ${c.gc.unreferencedSnapshots} snapshots)`,
    );
    if (c.k3s) {
      const k = c.k3s.kubelet;
      lines.push(
        `  k3s ${c.k3s.dataDir}: image GC ${k.imageGCHighThresholdPercent.value}%/${k.imageGCLowThresholdPercent.value}%, logs ${k.containerLogMaxSize.value} x ${k.containerLogMaxFiles.value}, pod logs ${b(c.k3s.podLogs.bytes)}`,
      );
    }
  }
  if (!inv.engine.measurable) lines.push('', `Not fully measurable: ${inv.engine.unsupportedReason}`);
  const failed = inv.collectors.filter((c) => !c.ok);
  if (failed.length > 0) lines.push('', ...failed.map((c) => `collector ${c.name} failed: ${c.error}`));
  return `${lines.join('\n')}\n`;
}

async function scanCommand(args: string[]): Promise<number> {
  const flags = parseFlags(args, SCAN_OPTIONS);
  if (flags.help) {
    await out(`${SCAN_HELP}\n`);
    return 0;
  }
  const cfg = resolveScanConfig(flags, readEnv());
  const log = createLogger(cfg.logLevel);
  const showProgress = cfg.progress && process.stderr.isTTY === true;
  const onReport = showProgress
    ? (r: CollectorReport) =>
        process.stderr.write(`  ${r.name.padEnd(16)} ${r.ok ? 'ok' : `failed: ${r.error}`} (${r.durationMs} ms)\n`)
    : undefined;
  const { client, scanner } = await openScanner(cfg, log, cfg.analysis);
  let inventory: Inventory;
  try {
    inventory = await scanner.scanOnce(undefined, onReport);
  } catch (err) {
    process.stderr.write(`ballast-agent: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    client.close();
    scanner.close();
  }
  const checked = ZInventory.safeParse(inventory);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    process.stderr.write(
      `ballast-agent: internal error, inventory fails its schema at ${issue?.path.join('.')}: ${issue?.message}\n`,
    );
    return 1;
  }
  for (const c of inventory.collectors) {
    if (!c.ok && cfg.json) log.warn('collector failed', { collector: c.name, error: c.error });
  }
  await out(cfg.json ? `${JSON.stringify(inventory)}\n` : summary(inventory));
  return 0;
}

function readCaFile(caFile: string | null): string | null {
  if (!caFile) return null;
  try {
    return readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`--ca-file ${caFile}: ${errorMessage(err)}`);
  }
}

async function enrollCommand(args: string[]): Promise<number> {
  const flags = parseFlags(args, ENROLL_OPTIONS);
  if (flags.help) {
    await out(`${ENROLL_HELP}\n`);
    return 0;
  }
  const cfg = resolveEnrollConfig(flags, readEnv());
  const ca = readCaFile(cfg.caFile);
  const log = createLogger(cfg.logLevel);
  const store = await StateStore.open(cfg.stateDir, log);
  const machineId = await readMachineId(cfg.machineIdFile, store);
  const result = await requestEnrollment(cfg.server, { token: cfg.token, machineId, hostname: hostname() }, ca);
  const file = await storeCredential(cfg.stateDir, result.credential);
  log.info('enrolled', { agentId: result.agentId, hostId: result.hostId, credentialFile: file });
  if (result.cloneOf) {
    log.warn('the server treats this host as a suspected clone: another host with this machine ID is enrolled', {
      cloneOf: result.cloneOf,
    });
  }
  await out(`enrolled as ${result.agentId} (host ${result.hostId}); credential stored in ${file}\n`);
  return 0;
}

async function runCommand(args: string[]): Promise<number> {
  const flags = parseFlags(args, RUN_OPTIONS);
  if (flags.help) {
    await out(`${RUN_HELP}\n`);
    return 0;
  }
  const cfg = resolveRunConfig(flags, readEnv());
  const ca = readCaFile(cfg.caFile);
  const log = createLogger(cfg.logLevel);
  // A long-lived process whose heap is mostly caches: V8's smaller heap growth and more
  // eager GC keep the settled RSS at ~80 MB instead of ~130 MB (bench/scan.ts).
  setFlagsFromString('--optimize-for-size');
  allowWalkWorkers(false);
  const { client, scanner, docker } = await openScanner(cfg, log, cfg.analysis, true);
  const jobEnv = scannerJobEnv({
    client,
    scanner,
    docker,
    remediation: cfg.remediation,
    dataRootOverride: cfg.dataRootOverride,
  });
  const spool = await Spool.open(cfg.stateDir, log);
  const runner = new AgentRunner({
    jobs: { service: new JobService(jobEnv, cfg.stateDir), remediation: cfg.remediation },
    spool,
    serverUrl: cfg.serverUrl,
    token: cfg.token,
    ca,
    intervalSeconds: cfg.intervalSeconds,
    slowIntervalSeconds: cfg.slowIntervalSeconds,
    scanner,
    log,
  });
  log.info('starting', {
    version: AGENT_VERSION,
    server: cfg.serverUrl,
    docker: cfg.docker.display,
    walker: walkerName(),
  });
  runner.start();
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info('stopping', { signal });
      void runner.stop().then(resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  scanner.close();
  client.close();
  log.info('stopped');
  return 0;
}

const INSTALLATION_COMMANDS = {
  install: installCommand,
  uninstall: uninstallCommand,
  status: statusCommand,
  doctor: doctorCommand,
  upgrade: upgradeCommand,
};

async function installationCommand(command: keyof typeof INSTALLATION_COMMANDS, args: string[]): Promise<number> {
  const deps: InstallCommandDeps = { say: (line) => void process.stdout.write(`${line}\n`) };
  try {
    return await INSTALLATION_COMMANDS[command](args, deps);
  } finally {
    await out('');
  }
}

/** Runs one command; resolves to the process exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        await out(`${HELP}\n`);
        return command === undefined ? 2 : 0;
      case 'version':
      case '--version':
        await out(`${AGENT_VERSION}\n`);
        return 0;
      case 'scan':
        return await scanCommand(rest);
      case 'enroll':
        return await enrollCommand(rest);
      case 'run':
        return await runCommand(rest);
      case 'install':
      case 'uninstall':
      case 'status':
      case 'doctor':
      case 'upgrade':
        return await installationCommand(command, rest);
      case 'plan':
        return await planCommand(rest);
      case 'execute':
        return await executeCommand(rest);
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
  } catch (err) {
    if (err instanceof EnrollError) {
      process.stderr.write(`ballast-agent: ${err.message}\n`);
      return 1;
    }
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`ballast-agent: ${err.message}\nRun 'ballast-agent --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`ballast-agent: ${errorMessage(err)}\n`);
    return 1;
  }
}

/** Exits once the command is done: `run` may leave aborted filesystem reads in flight. */
export async function runCli(argv: string[]): Promise<never> {
  process.exit(await main(argv));
}

/** Run directly (the bundle, or through a symlink such as /usr/local/bin/ballast-agent). */
function isMainModule(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(argv1)).href;
  } catch {
    return false;
  }
}

if (isMainModule()) {
  void runCli(process.argv.slice(2));
}
