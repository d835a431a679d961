import path from 'node:path';
import type { RemediationConfig } from '../config/file.js';
import { STATE_DIRECTORY_NAME } from './layout.js';

export interface UnitOptions {
  /** Absolute path of the node binary the unit runs (the one that ran `install`). */
  nodePath: string;
  bundleFile: string;
  configFile: string;
  remediation: RemediationConfig;
  /** The engine's data root as this host sees it (log truncation writes under its containers/). */
  dataRoot: string;
  /** Group owning the Docker socket. */
  dockerGroup: string;
}

/** Read access to every file and directory: the data root is root-only (0710/0700 trees). */
const READ_CAPABILITIES = ['CAP_DAC_READ_SEARCH'];
/**
 * Remediation also writes root-owned files: truncating a container's json log (DAC_OVERRIDE),
 * replacing daemon.json through a temporary file and a rename in /etc/docker (DAC_OVERRIDE),
 * keeping its mode and owner root (FOWNER, CHOWN).
 */
const REMEDIATION_CAPABILITIES = ['CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_CHOWN'];

/** The home-like trees ProtectHome= hides; a data root inside one needs them readable. */
const HOME_TREES = ['/home', '/root', '/run/user'];

/** The directories remediation writes, none when it is disabled. */
export function remediationWritePaths(remediation: RemediationConfig, dataRoot: string): string[] {
  if (!remediation.enabled) return [];
  const paths: string[] = [];
  const disabled = new Set(remediation.disabledKinds);
  const configures = !(disabled.has('logs.configureRotation') && disabled.has('buildCache.configureGC'));
  if (configures) paths.push(path.dirname(remediation.daemonConfigFile));
  if (!disabled.has('logs.truncate')) paths.push(path.posix.join(dataRoot, 'containers'));
  return paths;
}

function quoteArg(value: string): string {
  // systemd splits ExecStart= on whitespace and expands % and $: quote and escape both.
  if (/^[A-Za-z0-9_./:=@+-]+$/.test(value)) return value;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/**
 * The hardened service unit. The agent runs as a transient unprivileged user (DynamicUser=),
 * reaches the engine through the Docker socket's group, reads the data root through
 * CAP_DAC_READ_SEARCH, and can write nothing but its state directory unless remediation is
 * enabled, in which case exactly the directories remediation edits become writable.
 */
export function renderUnit(o: UnitOptions): string {
  const writePaths = remediationWritePaths(o.remediation, o.dataRoot);
  const capabilities = [...READ_CAPABILITIES, ...(writePaths.length > 0 ? REMEDIATION_CAPABILITIES : [])].join(' ');
  const dataRootInHome = HOME_TREES.some((h) => o.dataRoot === h || o.dataRoot.startsWith(`${h}/`));
  const exec = [o.nodePath, o.bundleFile, 'run', '--config', o.configFile].map(quoteArg).join(' ');
  const lines = [
    '# Written by `ballast-agent install`; `ballast-agent uninstall` removes it.',
    '[Unit]',
    'Description=Ballast agent: Docker storage inventory for a Ballast server',
    'Wants=network-online.target',
    'After=network-online.target docker.service',
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${exec}`,
    'Restart=on-failure',
    'RestartSec=5s',
    'TimeoutStopSec=20s',
    '# JSON lines on stderr go to the journal: journalctl -u ballast-agent',
    'SyslogIdentifier=ballast-agent',
    '',
    '# Identity: a transient unprivileged user, in the group owning the Docker socket.',
    'DynamicUser=yes',
    `SupplementaryGroups=${o.dockerGroup}`,
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
