import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { loadConfigFile } from '../config/file.js';
import { ConfigError } from '../env.js';
import { createLogger, errorMessage, LOG_LEVELS, type LogLevel } from '../log.js';
import { AGENT_VERSION } from '../version.js';
import { defaultBundleSource, readBundle } from './bundle.js';
import { doctor, formatChecks } from './doctor.js';
import { httpGet, serverUrl } from './http.js';
import { InstallError, install, readEnrollmentRecord, uninstall } from './install.js';
import { type InstallLayout, installLayout, UNIT_NAME } from './layout.js';
import { type Systemd, systemctlSystemd } from './systemd.js';
import { upgrade } from './upgrade.js';

type Flags = Record<string, string | boolean | Array<string | boolean> | undefined>;
type Say = (line: string) => void;

export interface InstallCommandDeps {
  say: Say;
  /** Replaced in tests; defaults to systemctl (used only when /run/systemd/system exists under --root). */
  systemd?: (layout: InstallLayout) => Systemd;
}

const ROOT_HELP = `  --root DIR          install under DIR instead of / (tests, image building); systemd is
                      used only when DIR/run/systemd/system exists`;

export const INSTALL_HELP = `Usage: ballast-agent install --server URL --token TOKEN [options]

Enrolls this host, then installs the agent as a hardened systemd service:
  /etc/ballast/agent.json                   config (0600); an existing one is kept as the base
  /usr/local/lib/ballast-agent/ballast-agent.mjs  the agent (this bundle), 0755
  /usr/local/bin/ballast-agent              symlink to it
  /etc/systemd/system/${UNIT_NAME}     the unit (0644), enabled and started
  /var/lib/ballast-agent/                   credential and state (0700)

  --server URL          Ballast server base URL (https://…)
  --token TOKEN         enrollment token (ble_…); --token-file PATH reads it from a file
  --read-only           the agent measures only and refuses every remediation job
  --ca-file PATH        PEM CA bundle for the server certificate (kept in the config)
  --label KEY=VALUE     host label (repeatable)
  --docker-host URL     engine endpoint (default unix:///var/run/docker.sock)
  --data-root DIR       where the engine's data root is, when not its DockerRootDir
  --bundle PATH         agent bundle to install (default: the running one)
${ROOT_HELP}`;

export const UNINSTALL_HELP = `Usage: ballast-agent uninstall [--purge] [--root DIR]

Stops and disables the service, removes the unit, the installed agent, its symlink and the
config. The state directory (credential included) is kept unless --purge is given.
${ROOT_HELP}`;

export const STATUS_HELP = `Usage: ballast-agent status [--root DIR]

Prints the service state, the config, the enrolled agent ID and whether the server answers.
${ROOT_HELP}`;

export const DOCTOR_HELP = `Usage: ballast-agent doctor [options]

Checks the config, Node.js version, Docker socket access, that the data root is readable,
the credential, server reachability, TLS verification and clock skew against the server's
Date header. Exits 1 when any check fails.

  --config PATH       config file (default /etc/ballast/agent.json)
  --server URL        check this server instead of the configured one
  --ca-file PATH      CA bundle to verify the server certificate with
  --docker-host URL   engine endpoint to check
  --data-root DIR     data root to check (default: the engine's DockerRootDir)
  --state-dir DIR     where the credential is (default /var/lib/ballast-agent)
${ROOT_HELP}`;

export const UPGRADE_HELP = `Usage: ballast-agent upgrade [--server URL] [--ca-file PATH] [--force] [--no-restart] [--root DIR]

Downloads the agent the server publishes (verified TLS), checks its SHA-256 against the
published one, writes it beside the installed bundle and renames it over it, then restarts
the service. The server and CA come from the config unless given.
${ROOT_HELP}`;

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>): Flags {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new ConfigError(`unexpected argument: ${positionals[0]}`);
    return values;
  } catch (err) {
    throw err instanceof ConfigError ? err : new ConfigError(errorMessage(err));
  }
}

const str = (flags: Flags, name: string): string | undefined => {
  const v = flags[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
};

function layoutOf(flags: Flags): InstallLayout {
  return installLayout(str(flags, 'root') ?? '/');
}

function requireRoot(layout: InstallLayout, command: string): void {
  if (layout.root === '/' && process.getuid?.() !== 0) {
    throw new InstallError(
      `${command} changes system files and services: run it as root (sudo ballast-agent ${command} …)`,
    );
  }
}

function parseLabels(values: unknown): Record<string, string> | undefined {
  if (!Array.isArray(values) || values.length === 0) return undefined;
  const labels: Record<string, string> = {};
  for (const v of values) {
    const pair = String(v);
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--label ${pair}: must be key=value`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

function logLevel(flags: Flags): LogLevel {
  const v = str(flags, 'log-level') ?? 'warn';
  if (!(LOG_LEVELS as readonly string[]).includes(v))
    throw new ConfigError(`--log-level ${v}: one of ${LOG_LEVELS.join(', ')}`);
  return v as LogLevel;
}

export async function installCommand(args: string[], deps: InstallCommandDeps): Promise<number> {
  const flags = parse(args, {
    server: { type: 'string' },
    token: { type: 'string' },
    'token-file': { type: 'string' },
    'read-only': { type: 'boolean' },
    'ca-file': { type: 'string' },
    label: { type: 'string', multiple: true },
    'docker-host': { type: 'string' },
    'data-root': { type: 'string' },
    'machine-id-file': { type: 'string' },
    bundle: { type: 'string' },
    root: { type: 'string' },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flags.help) {
    deps.say(INSTALL_HELP);
    return 0;
  }
  const server = str(flags, 'server');
  if (!server) throw new ConfigError('install needs --server URL');
  let token = str(flags, 'token');
  const tokenFile = str(flags, 'token-file');
  if (tokenFile) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`--token-file ${tokenFile}: ${errorMessage(err)}`);
    }
  }
  if (!token) throw new ConfigError('install needs an enrollment token: --token TOKEN or --token-file PATH');
  const dataRoot = str(flags, 'data-root');
  if (dataRoot && !dataRoot.startsWith('/')) throw new ConfigError('--data-root must be an absolute path');
  const layout = layoutOf(flags);
  requireRoot(layout, 'install');
  await install({
    layout,
    server,
    token,
    caFile: str(flags, 'ca-file') ?? null,
    readOnly: flags['read-only'] === true,
    labels: parseLabels(flags.label),
    dockerHost: str(flags, 'docker-host'),
    dataRoot,
    bundleSource: path.resolve(str(flags, 'bundle') ?? defaultBundleSource()),
    nodePath: process.execPath,
    machineIdFile: str(flags, 'machine-id-file') ?? '/etc/machine-id',
    systemd: (deps.systemd ?? ((l) => systemctlSystemd(l.systemdMarker)))(layout),
    log: createLogger(logLevel(flags)),
    say: deps.say,
  });
  return 0;
}

export async function uninstallCommand(args: string[], deps: InstallCommandDeps): Promise<number> {
  const flags = parse(args, {
    purge: { type: 'boolean' },
    root: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flags.help) {
    deps.say(UNINSTALL_HELP);
    return 0;
  }
  const layout = layoutOf(flags);
  requireRoot(layout, 'uninstall');
  await uninstall({
    layout,
    purge: flags.purge === true,
    systemd: (deps.systemd ?? ((l) => systemctlSystemd(l.systemdMarker)))(layout),
    say: deps.say,
  });
  return 0;
}

async function readCa(file: string | undefined | null): Promise<{ pem: string | null; file: string | null }> {
  if (!file) return { pem: null, file: null };
  try {
    return { pem: await readFile(file, 'utf8'), file };
  } catch (err) {
    throw new ConfigError(`--ca-file ${file}: ${errorMessage(err)}`);
  }
}

export async function statusCommand(args: string[], deps: InstallCommandDeps): Promise<number> {
  const flags = parse(args, { root: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (flags.help) {
    deps.say(STATUS_HELP);
    return 0;
  }
  const layout = layoutOf(flags);
  const systemd = (deps.systemd ?? ((l) => systemctlSystemd(l.systemdMarker)))(layout);
  let healthy = true;
  if (await systemd.available()) {
    try {
      const s = await systemd.show(UNIT_NAME);
      deps.say(`service:   ${UNIT_NAME} ${s.activeState} (${s.subState}), ${s.unitFileState}`);
      if (s.activeState !== 'active') healthy = false;
    } catch (err) {
      deps.say(`service:   ${errorMessage(err)}`);
      healthy = false;
    }
  } else {
    deps.say(
      `service:   systemd is not running here; unit file ${layout.host.unitFile} ${await exists(layout.write.unitFile)}`,
    );
  }
  try {
    const bundle = await readBundle(layout.write.bundleFile);
    deps.say(
      `installed: ballast-agent ${bundle.version} at ${layout.host.bundleFile} (this command: ${AGENT_VERSION})`,
    );
  } catch {
    deps.say(`installed: no agent at ${layout.host.bundleFile}`);
    healthy = false;
  }
  let server: string | undefined;
  let caFile: string | undefined;
  try {
    const loaded = loadConfigFile(layout.write.configFile, true).config;
    server = loaded.server;
    caFile = loaded.caFile;
    deps.say(
      `config:    ${layout.host.configFile}: server ${loaded.server ?? '(none)'}, remediation ${loaded.remediation.enabled ? 'enabled' : 'disabled'}`,
    );
  } catch (err) {
    deps.say(`config:    ${errorMessage(err)}`);
    healthy = false;
  }
  const record = await readEnrollmentRecord(layout.write.stateDir);
  deps.say(
    record
      ? `agent:     ${record.agentId} (host ${record.hostId}), enrolled ${record.enrolledAt}`
      : 'agent:     not enrolled',
  );
  if (!record) healthy = false;
  if (server) {
    try {
      const url = serverUrl(server, '/healthz');
      const answer = await httpGet(url, await readCa(caFile), { timeoutMs: 10_000, maxBytes: 1024 * 1024 });
      deps.say(`server:    ${url.origin} HTTP ${answer.status}`);
      if (answer.status !== 200) healthy = false;
    } catch (err) {
      deps.say(`server:    ${errorMessage(err)}`);
      healthy = false;
    }
  }
  return healthy ? 0 : 1;
}

async function exists(file: string): Promise<string> {
  try {
    await readFile(file);
    return 'present';
  } catch {
    return 'absent';
  }
}

export async function doctorCommand(args: string[], deps: InstallCommandDeps): Promise<number> {
  const flags = parse(args, {
    config: { type: 'string' },
    server: { type: 'string' },
    'ca-file': { type: 'string' },
    'docker-host': { type: 'string' },
    'data-root': { type: 'string' },
    'state-dir': { type: 'string' },
    root: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flags.help) {
    deps.say(DOCTOR_HELP);
    return 0;
  }
  const layout = layoutOf(flags);
  const checks = await doctor({
    configFile: str(flags, 'config') ?? layout.write.configFile,
    server: str(flags, 'server'),
    caFile: str(flags, 'ca-file'),
    dockerHost: str(flags, 'docker-host'),
    dataRoot: str(flags, 'data-root'),
    stateDir: str(flags, 'state-dir') ?? layout.write.stateDir,
  });
  deps.say(formatChecks(checks).trimEnd());
  const failed = checks.filter((c) => c.status === 'fail').length;
  deps.say(failed === 0 ? 'all checks passed' : `${failed} check${failed === 1 ? '' : 's'} failed`);
  return failed === 0 ? 0 : 1;
}

export async function upgradeCommand(args: string[], deps: InstallCommandDeps): Promise<number> {
  const flags = parse(args, {
    server: { type: 'string' },
    'ca-file': { type: 'string' },
    force: { type: 'boolean' },
    'no-restart': { type: 'boolean' },
    root: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flags.help) {
    deps.say(UPGRADE_HELP);
    return 0;
  }
  const layout = layoutOf(flags);
  requireRoot(layout, 'upgrade');
  let config: { server?: string; caFile?: string } = {};
  try {
    config = loadConfigFile(layout.write.configFile, false).config;
  } catch (err) {
    if (!str(flags, 'server')) throw new ConfigError(errorMessage(err));
  }
  const server = str(flags, 'server') ?? config.server;
  if (!server) throw new ConfigError(`upgrade needs --server URL (no "server" in ${layout.host.configFile})`);
  await upgrade({
    server,
    ca: await readCa(str(flags, 'ca-file') ?? config.caFile),
    bundleFile: layout.write.bundleFile,
    force: flags.force === true,
    restart: flags['no-restart'] !== true,
    systemd: (deps.systemd ?? ((l) => systemctlSystemd(l.systemdMarker)))(layout),
    say: deps.say,
  });
  return 0;
}
