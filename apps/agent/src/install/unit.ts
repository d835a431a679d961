import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JobKind } from '@ballast/shared';
import type { RemediationConfig } from '../config/file.js';
import { STATE_DIRECTORY_NAME } from './layout.js';

export interface UnitOptions {
  /** Absolute path of the node binary the unit runs (the one that ran `install`). */
  nodePath: string;
  bundleFile: string;
  configFile: string;
  remediation: RemediationConfig;
  engines: UnitEngines;
  /** Engine services the agent starts after (`engineServices`). */
  after: readonly string[];
  /** Groups owning the engine sockets the agent connects to. */
  socketGroups: readonly string[];
}

/** What the agent measures on this host, as far as the unit cares. */
export interface UnitEngines {
  /** Docker's data root as this host sees it (log truncation writes under its containers/); null without Docker. */
  dockerDataRoot: string | null;
  /** k3s's config drop-in directory (its tuning jobs write there); null without k3s. */
  k3sConfigDir: string | null;
}

/**
 * How the service runs node: memory over speed, because the agent idles between passes and is
 * measured by its resident size (`npm run bench -- scan` runs the bundle with exactly these).
 * - `--no-turbofan`: no optimising compiler, so neither its code pages nor optimised code stay
 *   resident; the baseline compiler still runs hot loops. Side by side over the first 80 s of
 *   `run`: 66 MB RSS against 76 MB without it; a slow pass took 3.6 CPU-seconds against 3.5.
 *   (`--opt`, its older name, is only an alias now.)
 * - `--max-semi-space-size=1`: a 1 MiB young generation instead of up to 16 MiB; V8 cannot
 *   shrink it from inside the process.
 * - `--expose-gc`: `run` asks for full collections once each pass is over (run/agent.ts), so
 *   the pass's garbage is not kept until the next one. Side by side at a 20 s interval over
 *   300 s, with one collection 3 s after each pass: 89 s above 60 MB RSS against 125 s,
 *   median 57.3 against 58.2 MB.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--no-turbofan', '--max-semi-space-size=1', '--expose-gc'];

/**
 * The service's environment: glibc malloc tuned to give memory back.
 * - One malloc arena: each thread (libuv's pool, V8's helpers) would otherwise keep an arena of
 *   its own, about 5 MB resident in all for a process that allocates little.
 * - Fixed mmap and trim thresholds at glibc's initial 128 KiB. Left alone, glibc raises both
 *   after the first large block is freed (up to 32 MiB), so each pass's large buffers (API
 *   answers, the snapshot frame) are then carved from the heap and kept after they are freed.
 *   Side by side at a 10 s interval over 150 s, twice: 59.9 and 60.1 MB median RSS against
 *   61.7 and 61.5 MB.
 */
export const SERVICE_ENVIRONMENT: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/** Read access to every file and directory: the data root is root-only (0710/0700 trees). */
const READ_CAPABILITIES = ['CAP_DAC_READ_SEARCH'];
/**
 * Remediation also writes root-owned files: truncating a container's json log (DAC_OVERRIDE),
 * replacing daemon.json or k3s's drop-in through a temporary file and a rename in /etc
 * (DAC_OVERRIDE), keeping its mode and owner root (FOWNER, CHOWN).
 */
const REMEDIATION_CAPABILITIES = ['CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_CHOWN'];

/** The home-like trees ProtectHome= hides; a data root inside one needs them readable. */
const HOME_TREES = ['/home', '/root', '/run/user'];

/** The directories remediation writes on this host, none when it is disabled. */
export function remediationWritePaths(remediation: RemediationConfig, engines: UnitEngines): string[] {
  if (!remediation.enabled) return [];
  const paths: string[] = [];
  const enabled = (...kinds: JobKind[]) => kinds.some((k) => !remediation.disabledKinds.includes(k));
  if (engines.dockerDataRoot !== null) {
    if (enabled('logs.configureRotation', 'buildCache.configureGC'))
      paths.push(path.dirname(remediation.daemonConfigFile));
    if (enabled('logs.truncate')) paths.push(path.posix.join(engines.dockerDataRoot, 'containers'));
  }
  // The drop-in directory's parent: the first tuning job creates the directory itself.
  if (engines.k3sConfigDir !== null && enabled('k3s.configureImageGC', 'k3s.configureLogRotation')) {
    paths.push(path.dirname(engines.k3sConfigDir));
  }
  return paths;
}

/** Where systemd looks for unit files, highest precedence first (systemd.unit(5)). */
export const UNIT_DIRECTORIES = [
  '/etc/systemd/system',
  '/run/systemd/system',
  '/usr/local/lib/systemd/system',
  '/usr/lib/systemd/system',
  '/lib/systemd/system',
];

/**
 * The engine services to start after: Docker's when Docker is measured; for containerd, those
 * of containerd, k3s (server) and k3s-agent that this host has, or the likely ones when none is
 * installed yet (After= on an absent unit orders nothing and requires nothing). Never Requires=:
 * the agent keeps running, and says so, while an engine is down.
 */
export function engineServices(
  engines: { docker: boolean; containerd: boolean; k3s: boolean },
  unitExists: (name: string) => boolean,
): string[] {
  const out: string[] = [];
  if (engines.docker) out.push('docker.service');
  if (engines.containerd) {
    const candidates = engines.k3s
      ? ['k3s.service', 'k3s-agent.service', 'containerd.service']
      : ['containerd.service', 'k3s.service', 'k3s-agent.service'];
    const present = candidates.filter(unitExists);
    const chosen =
      present.length > 0 ? present : engines.k3s ? ['k3s.service', 'k3s-agent.service'] : ['containerd.service'];
    for (const name of chosen) if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** Whether a unit file of this name exists under `root` in any of systemd's unit directories. */
export function unitFileExists(root: string, name: string): boolean {
  return UNIT_DIRECTORIES.some((dir) => existsSync(path.join(root, dir, name)));
}

function quoteArg(value: string): string {
  // systemd splits ExecStart= on whitespace and expands % and $: quote and escape both.
  if (/^[A-Za-z0-9_./:=@+-]+$/.test(value)) return value;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/**
 * The hardened service unit. The agent runs as a transient unprivileged user (DynamicUser=),
 * reaches the engines through their sockets' groups, reads their data through
 * CAP_DAC_READ_SEARCH, and can write nothing but its state directory unless remediation is
 * enabled, in which case exactly the directories remediation edits become writable.
 */
export function renderUnit(o: UnitOptions): string {
  const writePaths = remediationWritePaths(o.remediation, o.engines);
  const capabilities = [...READ_CAPABILITIES, ...(writePaths.length > 0 ? REMEDIATION_CAPABILITIES : [])].join(' ');
  const dataRoot = o.engines.dockerDataRoot;
  const dataRootInHome = dataRoot !== null && HOME_TREES.some((h) => dataRoot === h || dataRoot.startsWith(`${h}/`));
  const measures = o.engines.dockerDataRoot !== null ? 'Docker' : 'container';
  const exec = [o.nodePath, ...SERVICE_NODE_FLAGS, o.bundleFile, 'run', '--config', o.configFile]
    .map(quoteArg)
    .join(' ');
  const lines = [
    '# Written by `ballast-agent install`; `ballast-agent uninstall` removes it.',
    '[Unit]',
    `Description=Ballast agent: ${measures} storage inventory for a Ballast server`,
    'Wants=network-online.target',
    `After=${['network-online.target', ...o.after].join(' ')}`,
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${exec}`,
    ...Object.entries(SERVICE_ENVIRONMENT).map(([k, v]) => `Environment=${quoteArg(`${k}=${v}`)}`),
    'Restart=on-failure',
    'RestartSec=5s',
    'TimeoutStopSec=20s',
    '# JSON lines on stderr go to the journal: journalctl -u ballast-agent',
    'SyslogIdentifier=ballast-agent',
    '',
    '# Identity: a transient unprivileged user, in the groups owning the engine sockets.',
    'DynamicUser=yes',
    ...(o.socketGroups.length > 0 ? [`SupplementaryGroups=${[...new Set(o.socketGroups)].join(' ')}`] : []),
    `StateDirectory=${STATE_DIRECTORY_NAME}`,
    'StateDirectoryMode=0700',
    'UMask=0077',
    `AmbientCapabilities=${capabilities}`,
    `CapabilityBoundingSet=${capabilities}`,
    'NoNewPrivileges=yes',
    '',
    '# Filesystem: read-only everywhere except the state directory and what remediation edits.',
    'ProtectSystem=strict',
    ...(writePaths.length > 0 ? [`ReadWritePaths=${writePaths.map((p) => `-${p}`).join(' ')}`] : []),
    'PrivateTmp=yes',
    `ProtectHome=${dataRootInHome ? 'read-only' : 'yes'}`,
    'PrivateDevices=yes',
    '',
    '# Kernel and process surface the agent never needs.',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'SystemCallArchitectures=native',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}
