import { lstat, readFile, readlink, rm, rmdir, stat, symlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import * as z from '@ballast/shared/zod';
import { type AgentConfigFile, loadConfigFile, ZAgentConfigFile } from '../config/file.js';
import { DEFAULT_K3S_PATHS, k3sPresent } from '../containerd/k3s.js';
import { dockerUsesContainerdStore, K3S_CONTAINERD_SOCKET, selectCollectors } from '../containerd/select.js';
import { DockerClient } from '../docker/client.js';
import { parseDockerHost } from '../docker/endpoint.js';
import { requestEnrollment, storeCredential } from '../enroll/enroll.js';
import { readMachineId } from '../host.js';
import { errorMessage, type Logger } from '../log.js';
import { StateStore } from '../state/store.js';
import { readBundle } from './bundle.js';
import { ensureDir, writeFileAtomic } from './files.js';
import type { InstallLayout } from './layout.js';
import { UNIT_NAME } from './layout.js';
import type { Systemd } from './systemd.js';
import { engineServices, renderUnit, SERVICE_ENVIRONMENT, SERVICE_NODE_FLAGS, unitFileExists } from './unit.js';

export class InstallError extends Error {
  override readonly name = 'InstallError';
}

/**
 * Starts `nodePath` with the unit's node flags and environment and an empty program: a node
 * that refuses a flag exits at once, and systemd would restart the service forever while
 * `install` reported success. Node's own warnings (a flag it ignores) count as refusals.
 */
export async function checkServiceNode(nodePath: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  const flags = SERVICE_NODE_FLAGS.join(' ');
  const stderr = await new Promise<string>((resolve, reject) => {
    execFile(
      nodePath,
      [...SERVICE_NODE_FLAGS, '-e', ''],
      // systemd starts the unit with a near-empty environment: only the unit's own.
      { timeout: 15_000, encoding: 'utf8', env: { ...SERVICE_ENVIRONMENT } },
      (err, _stdout, errText) => {
        if (err) {
          const detail = (errText || err.message).trim().split('\n')[0];
          reject(new InstallError(`${nodePath} does not start with the unit's flags (${flags}): ${detail}`));
        } else resolve(errText);
      },
    );
  });
  const warning = stderr.split('\n').find((l) => /warning|bad option/i.test(l));
  if (warning) throw new InstallError(`${nodePath} warns about the unit's flags (${flags}): ${warning.trim()}`);
}

/** What `install` records next to the credential, for `status` (the credential is opaque). */
export const ENROLLMENT_FILE = 'enrollment.json';
export const ZEnrollmentRecord = z.object({
  agentId: z.string(),
  hostId: z.string(),
  server: z.string(),
  enrolledAt: z.string(),
});
export type EnrollmentRecord = z.infer<typeof ZEnrollmentRecord>;

export interface InstallOptions {
  layout: InstallLayout;
  server: string;
  token: string;
  caFile: string | null;
  readOnly: boolean;
  labels: Record<string, string> | undefined;
  dockerHost: string | undefined;
  dataRoot: string | undefined;
  bundleSource: string;
  /** The node binary the unit runs: the one running this install. */
  nodePath: string;
  machineIdFile: string;
  systemd: Systemd;
  log: Logger;
  say: (line: string) => void;
}

const DEFAULT_DATA_ROOT = '/var/lib/docker';

/** The group owning an engine socket, by name from the host's /etc/group; `fallback` otherwise. */
async function socketGroup(socketPath: string, groupFile: string, fallback: string): Promise<string> {
  try {
    const { gid } = await stat(socketPath);
    const lines = (await readFile(groupFile, 'utf8')).split('\n');
    for (const line of lines) {
      const [name, , id] = line.split(':');
      if (name && id !== undefined && Number(id) === gid) return name;
    }
  } catch {}
  return fallback;
}

/** Existing config (when valid) is the base: a re-install keeps the operator's policy edits. */
function existingConfig(file: string, say: (line: string) => void): AgentConfigFile | null {
  try {
    return loadConfigFile(file, false).config;
  } catch (err) {
    say(`warning: ignoring the existing ${file}: ${errorMessage(err)}`);
    return null;
  }
}

/**
 * Writes the config, enrolls, installs the bundle and the unit, and starts the service. First
 * node is checked with the unit's flags, then the host enrolls: when either fails, nothing on
 * the host changes (and a node that cannot run the unit spends no token).
 */
export async function install(o: InstallOptions): Promise<{ config: AgentConfigFile; unit: string; started: boolean }> {
  const { layout, say } = o;
  const bundle = await readBundle(o.bundleSource);
  // Before anything changes on the host or the token is spent.
  await checkServiceNode(o.nodePath);
  let ca: string | null = null;
  if (o.caFile) {
    try {
      ca = await readFile(o.caFile, 'utf8');
    } catch (err) {
      throw new InstallError(`--ca-file ${o.caFile}: ${errorMessage(err)}`);
    }
  }

  const previous = existingConfig(layout.write.configFile, say);
  const draft: Record<string, unknown> = { ...(previous ?? {}) };
  if (draft.stateDir !== undefined && draft.stateDir !== layout.host.stateDir) {
    say(
      `warning: dropping stateDir ${String(draft.stateDir)} from the config: the unit's state directory is ${layout.host.stateDir}`,
    );
  }
  delete draft.stateDir;
  draft.server = o.server;
  if (o.caFile) draft.caFile = path.resolve(o.caFile);
  if (o.dockerHost) draft.dockerHost = o.dockerHost;
  if (o.dataRoot) draft.dataRoot = o.dataRoot;
  if (o.labels) draft.labels = o.labels;
  draft.remediation = {
    ...(previous?.remediation ?? {}),
    enabled: o.readOnly ? false : (previous?.remediation.enabled ?? true),
  };
  const parsed = ZAgentConfigFile.safeParse(draft);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InstallError(`the config would be invalid at ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const config = parsed.data;

  // The engines the agent will measure, chosen as `run` chooses them from this host's sockets.
  const docker = parseDockerHost(config.dockerHost ?? 'unix:///var/run/docker.sock');
  const selection = selectCollectors({
    mode: config.collector ?? 'auto',
    dockerExplicit: config.dockerHost !== undefined,
    dockerSocket: docker.kind === 'unix' ? docker.socketPath : null,
    containerdAddress: config.containerdAddress ?? null,
    containerdNamespace: config.containerdNamespace ?? null,
  });

  // Docker names its data root (so the unit's write paths are right) and its image store: the
  // containerd socket beside it is used only when Docker keeps its images there.
  let dataRoot = config.dataRoot;
  let dockerUsesContainerd = false;
  if (selection.docker.used) {
    const client = new DockerClient(docker);
    try {
      await client.negotiate();
      const info = await client.info();
      dataRoot ??= info.DockerRootDir;
      dockerUsesContainerd = dockerUsesContainerdStore(info.DriverStatus);
    } catch (err) {
      if (!dataRoot) {
        dataRoot = DEFAULT_DATA_ROOT;
        say(`warning: cannot ask the engine for its data root (${errorMessage(err)}); assuming ${DEFAULT_DATA_ROOT}`);
      }
    } finally {
      client.close();
    }
  }
  const ctrd = selection.containerd;
  const containerdSocket = ctrd.used && (!ctrd.onlyForDockerStore || dockerUsesContainerd) ? ctrd.address : null;
  const k3s =
    containerdSocket !== null && (containerdSocket === K3S_CONTAINERD_SOCKET || k3sPresent(DEFAULT_K3S_PATHS));
  const engines = [
    selection.docker.used ? 'Docker' : null,
    containerdSocket ? `containerd at ${containerdSocket}${k3s ? ' (k3s)' : ''}` : null,
  ];
  say(`engines: ${engines.filter(Boolean).join(' and ') || 'none found'}`);
  // The sockets are this host's, whatever the install root: so is the group database naming their groups.
  const socketGroups: string[] = [];
  if (selection.docker.used) {
    const group = docker.kind === 'unix' ? await socketGroup(docker.socketPath, '/etc/group', 'docker') : 'docker';
    socketGroups.push(group);
    if (group === 'root') {
      say(
        'warning: the Docker socket belongs to group root, so the service joins group root to reach it; a dedicated docker group (the packaged default) is narrower',
      );
    }
  }
  if (containerdSocket) {
    const group = await socketGroup(containerdSocket, '/etc/group', 'root');
    if (!socketGroups.includes(group)) socketGroups.push(group);
    if (group === 'root') {
      say(
        `warning: the containerd socket ${containerdSocket} belongs to group root (containerd's default), so the service joins group root to reach it; a group of its own (containerd's [grpc] gid) is narrower`,
      );
    }
  }

  await ensureDir(layout.write.stateDir, 0o700);
  const store = await StateStore.open(layout.write.stateDir, o.log);
  const machineId = await readMachineId(o.machineIdFile, store);
  const enrolled = await requestEnrollment(o.server, { token: o.token, machineId, hostname: hostname() }, ca);
  await storeCredential(layout.write.stateDir, enrolled.credential);
  const record: EnrollmentRecord = {
    agentId: enrolled.agentId,
    hostId: enrolled.hostId,
    server: o.server,
    enrolledAt: new Date().toISOString(),
  };
  await writeFileAtomic(
    path.join(layout.write.stateDir, ENROLLMENT_FILE),
    `${JSON.stringify(record, null, 2)}\n`,
    0o600,
  );
  say(`enrolled as ${enrolled.agentId} (host ${enrolled.hostId})`);
  if (enrolled.cloneOf) say(`warning: the server treats this host as a suspected clone of ${enrolled.cloneOf}`);

  await ensureDir(layout.write.libDir, 0o755);
  await writeFileAtomic(layout.write.bundleFile, bundle.bytes, 0o755);
  await rm(layout.write.binLink, { force: true });
  await ensureDir(path.dirname(layout.write.binLink), 0o755, false);
  await symlink(layout.host.bundleFile, layout.write.binLink);
  say(`installed ballast-agent ${bundle.version} at ${layout.host.bundleFile} (${layout.host.binLink})`);

  await ensureDir(path.dirname(layout.write.configFile), 0o755, false);
  await writeFileAtomic(layout.write.configFile, `${JSON.stringify(config, null, 2)}\n`, 0o600);
  say(`wrote ${layout.host.configFile}${config.remediation.enabled ? '' : ' (read-only: remediation disabled)'}`);

  const unit = renderUnit({
    nodePath: o.nodePath,
    bundleFile: layout.host.bundleFile,
    configFile: layout.host.configFile,
    remediation: config.remediation,
    engines: {
      dockerDataRoot: selection.docker.used ? (dataRoot ?? DEFAULT_DATA_ROOT) : null,
      k3sConfigDir: k3s ? DEFAULT_K3S_PATHS.configDir : null,
    },
    after: engineServices({ docker: selection.docker.used, containerd: containerdSocket !== null, k3s }, (name) =>
      unitFileExists(layout.root, name),
    ),
    socketGroups,
  });
  await ensureDir(path.dirname(layout.write.unitFile), 0o755, false);
  await writeFileAtomic(layout.write.unitFile, unit, 0o644);
  say(`wrote ${layout.host.unitFile}`);

  if (!(await o.systemd.available())) {
    say('systemd is not running here: start the agent with');
    say(`  systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}`);
    return { config, unit, started: false };
  }
  await o.systemd.daemonReload();
  await o.systemd.enableNow(UNIT_NAME);
  say(`started ${UNIT_NAME}: journalctl -u ballast-agent -f`);
  return { config, unit, started: true };
}

export interface UninstallOptions {
  layout: InstallLayout;
  purge: boolean;
  systemd: Systemd;
  say: (line: string) => void;
}

async function removeIfPresent(file: string, say: (line: string) => void, shown: string): Promise<void> {
  try {
    await lstat(file);
  } catch {
    return;
  }
  await rm(file, { recursive: true, force: true });
  say(`removed ${shown}`);
}

/** Stops and disables the unit, then removes what install wrote; the state only with purge. */
export async function uninstall(o: UninstallOptions): Promise<void> {
  const { layout, say } = o;
  if (await o.systemd.available()) {
    try {
      await o.systemd.disableNow(UNIT_NAME);
      say(`stopped and disabled ${UNIT_NAME}`);
    } catch (err) {
      say(`note: ${errorMessage(err)}`);
    }
  }
  await removeIfPresent(layout.write.unitFile, say, layout.host.unitFile);
  if (await o.systemd.available()) await o.systemd.daemonReload();
  // The command name is removed only when it is ours (a link to the installed bundle).
  try {
    if ((await readlink(layout.write.binLink)) === layout.host.bundleFile) {
      await removeIfPresent(layout.write.binLink, say, layout.host.binLink);
    }
  } catch {}
  await removeIfPresent(layout.write.libDir, say, layout.host.libDir);
  await removeIfPresent(layout.write.configFile, say, layout.host.configFile);
  try {
    await rmdir(path.dirname(layout.write.configFile));
  } catch {}
  if (o.purge) {
    await removeIfPresent(layout.write.stateDir, say, layout.host.stateDir);
    // Where systemd keeps a DynamicUser= service's state; /var/lib/<name> links to it.
    const privateDir = path.join(path.dirname(layout.write.stateDir), 'private', path.basename(layout.write.stateDir));
    await removeIfPresent(
      privateDir,
      say,
      path.join(path.dirname(layout.host.stateDir), 'private', path.basename(layout.host.stateDir)),
    );
  } else {
    say(`kept the state in ${layout.host.stateDir} (credential included); --purge removes it`);
  }
}

export async function readEnrollmentRecord(stateDir: string): Promise<EnrollmentRecord | null> {
  try {
    return ZEnrollmentRecord.parse(JSON.parse(await readFile(path.join(stateDir, ENROLLMENT_FILE), 'utf8')));
  } catch {
    return null;
  }
}
