import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type AgentConfigFile, loadConfigFile } from '../config/file.js';
import { ContainerdClient } from '../containerd/client.js';
import { containerdStoreRoots } from '../containerd/roots.js';
import { DEFAULT_SNAPSHOTTER } from '../containerd/scan.js';
import { dockerUsesContainerdStore, selectCollectors } from '../containerd/select.js';
import { DockerClient, DockerError } from '../docker/client.js';
import { parseDockerHost } from '../docker/endpoint.js';
import { CREDENTIAL_FILE } from '../enroll/enroll.js';
import { nativeWalkDir, nativeWalkStatus } from '../fs/native-walk.js';
import { errorMessage } from '../log.js';
import { FetchError, httpGet, serverUrl } from './http.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorOptions {
  configFile: string;
  /** Overrides of the config file's keys (flags). */
  server?: string;
  caFile?: string;
  dockerHost?: string;
  dataRoot?: string;
  stateDir: string;
  /** Largest tolerated difference with the server's clock. */
  maxSkewSeconds?: number;
  now?: () => number;
}

/** Clock differences above this break token expiry and make timestamps in the dashboard lie. */
const DEFAULT_MAX_SKEW_SECONDS = 30;

/**
 * Checks everything the agent needs, each with what to do when it fails. Every check runs
 * (one failure does not hide the next); the caller exits non-zero when any failed.
 */
export async function doctor(o: DoctorOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (name: string, status: CheckStatus, detail: string) => checks.push({ name, status, detail });

  let config: AgentConfigFile | null = null;
  try {
    config = loadConfigFile(o.configFile, true).config;
    add(
      'config',
      'ok',
      `${o.configFile} is valid (remediation ${config.remediation.enabled ? 'enabled' : 'disabled'})`,
    );
  } catch (err) {
    add('config', 'fail', `${errorMessage(err)}\n  fix the file, or re-run ballast-agent install`);
  }

  const major = Number(process.versions.node.split('.')[0]);
  add(
    'node',
    major >= 20 ? 'ok' : 'fail',
    `Node.js ${process.versions.node}${major >= 20 ? '' : ': 20 or newer is needed'}`,
  );

  // Loaded as `run` loads it: from the state directory when it exists, else the temporary one.
  if (existsSync(o.stateDir)) nativeWalkDir(o.stateDir);
  const walker = nativeWalkStatus();
  add(
    'walker',
    walker.loaded ? 'ok' : 'warn',
    walker.loaded
      ? 'native directory walker loaded'
      : `native directory walker unavailable (${walker.reason}): walks run in JavaScript: same figures, about twice the CPU`,
  );

  // The engines `run` would measure, chosen as it chooses them, then each one's store.
  const dockerHost = o.dockerHost ?? config?.dockerHost ?? 'unix:///var/run/docker.sock';
  let dockerEndpoint: ReturnType<typeof parseDockerHost> | null = null;
  try {
    dockerEndpoint = parseDockerHost(dockerHost);
  } catch (err) {
    add('docker', 'fail', dockerAdvice(dockerHost, err));
  }
  const selection = selectCollectors({
    mode: config?.collector ?? 'auto',
    dockerExplicit: o.dockerHost !== undefined || config?.dockerHost !== undefined,
    dockerSocket: dockerEndpoint?.kind === 'unix' ? dockerEndpoint.socketPath : null,
    containerdAddress: config?.containerdAddress ?? null,
    containerdNamespace: config?.containerdNamespace ?? null,
  });
  let dockerUsesContainerd = false;
  let engineRoot: string | null = null;
  if (selection.docker.used && dockerEndpoint) {
    const client = new DockerClient(dockerEndpoint, { quickMs: 5_000, diskUsageMs: 5_000 });
    try {
      const version = await client.negotiate();
      const info = await client.info();
      engineRoot = info.DockerRootDir;
      dockerUsesContainerd = dockerUsesContainerdStore(info.DriverStatus);
      add('docker', 'ok', `${dockerEndpoint.display}: Docker ${version.Version} (API ${client.apiVersion})`);
    } catch (err) {
      add('docker', 'fail', dockerAdvice(dockerHost, err));
    } finally {
      client.close();
    }
  }
  const ctrd = selection.containerd;
  const containerdUsed = ctrd.used && (!ctrd.onlyForDockerStore || dockerUsesContainerd);
  if (containerdUsed && ctrd.address) await checkContainerd(ctrd.address, ctrd.namespace, add);
  if (!selection.docker.used && !containerdUsed) {
    add(
      'engine',
      'fail',
      `no engine found (${selection.docker.reason}; ${ctrd.reason}): set dockerHost or containerdAddress in the config`,
    );
  }

  if (selection.docker.used) {
    const dataRoot = o.dataRoot ?? config?.dataRoot ?? engineRoot;
    if (!dataRoot) {
      add('data root', 'fail', 'unknown: the engine is unreachable and no dataRoot is configured');
    } else {
      try {
        // readdir, not access(2): access ignores capabilities such as the unit's CAP_DAC_READ_SEARCH.
        const entries = await readdir(dataRoot);
        for (const sub of ['image', 'containers']) {
          if (entries.includes(sub)) await readdir(path.join(dataRoot, sub));
        }
        add('data root', 'ok', `${dataRoot} is readable`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const advice =
          code === 'ENOENT'
            ? 'it does not exist here: when the agent sees the host through a mount, set dataRoot (--data-root) to where it is mounted'
            : 'run as root, or under the installed unit (CAP_DAC_READ_SEARCH)';
        add('data root', 'fail', `${dataRoot}: ${errorMessage(err)}; ${advice}`);
      }
    }
  }

  const credential = path.join(o.stateDir, CREDENTIAL_FILE);
  try {
    await readFile(credential);
    add('credential', 'ok', `${credential} present`);
  } catch (err) {
    add(
      'credential',
      'fail',
      `${credential}: ${errorMessage(err)}; enroll with ballast-agent install (or enroll) and a fresh enrollment token`,
    );
  }

  const server = o.server ?? config?.server;
  const caFile = o.caFile ?? config?.caFile ?? null;
  if (!server) {
    add('server', 'fail', 'no server configured: pass --server URL or set "server" in the config');
    return checks;
  }
  let ca: string | null = null;
  if (caFile) {
    try {
      ca = await readFile(caFile, 'utf8');
    } catch (err) {
      add('tls', 'fail', `CA file ${caFile}: ${errorMessage(err)}`);
    }
  }
  try {
    const url = serverUrl(server, '/healthz');
    const sentAt = (o.now ?? Date.now)();
    const answer = await httpGet(url, { pem: ca, file: caFile }, { timeoutMs: 10_000, maxBytes: 1024 * 1024 });
    const receivedAt = (o.now ?? Date.now)();
    if (answer.status >= 200 && answer.status < 300) {
      add('server', 'ok', `${url.origin} answers (HTTP ${answer.status})`);
    } else {
      add(
        'server',
        'fail',
        `${url.origin}/healthz answered HTTP ${answer.status}: is this a Ballast server, and is it healthy?`,
      );
    }
    if (url.protocol === 'https:') {
      add('tls', 'ok', `certificate verified${caFile ? ` (system roots plus ${caFile})` : ' (system roots)'}`);
    } else {
      add('tls', 'warn', `${url.origin} is plain http: the credential and the inventory travel unencrypted; use https`);
    }
    const date = answer.headers.date ? Date.parse(answer.headers.date) : Number.NaN;
    if (Number.isNaN(date)) {
      add('clock', 'warn', 'the server sent no Date header; clock skew not measured');
    } else {
      // Date has a one-second resolution: compare with the middle of the exchange.
      const skew = Math.round(((sentAt + receivedAt) / 2 - date) / 1000);
      const max = o.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
      add(
        'clock',
        Math.abs(skew) <= max ? 'ok' : 'fail',
        Math.abs(skew) <= max
          ? `within ${Math.max(1, Math.abs(skew))} s of the server`
          : `this host's clock is ${Math.abs(skew)} s ${skew > 0 ? 'ahead of' : 'behind'} the server's: enable time sync (timedatectl set-ntp true)`,
      );
    }
  } catch (err) {
    add('server', 'fail', err instanceof FetchError ? err.message : errorMessage(err));
  }
  return checks;
}

/**
 * containerd answers on its socket, and the directories it reports for its content store and
 * snapshots (where the collector measures bytes) are readable.
 */
async function checkContainerd(
  address: string,
  namespace: string | null,
  add: (name: string, status: CheckStatus, detail: string) => void,
): Promise<void> {
  const client = new ContainerdClient(address, namespace ?? 'default');
  try {
    const signal = AbortSignal.timeout(5_000);
    const version = await client.version(signal);
    add('containerd', 'ok', `${address}: containerd ${version.version}${namespace ? ` (namespace ${namespace})` : ''}`);
    const roots = await containerdStoreRoots(client, DEFAULT_SNAPSHOTTER, signal);
    if (roots.length === 0) {
      add('store', 'warn', 'containerd reports no content or snapshot root: bytes on disk cannot be measured');
    }
    for (const root of roots) {
      try {
        await readdir(root);
        add('store', 'ok', `${root} is readable`);
      } catch (err) {
        add(
          'store',
          'fail',
          `${root}: ${errorMessage(err)}; run as root, or under the installed unit (CAP_DAC_READ_SEARCH)`,
        );
      }
    }
  } catch (err) {
    const cause = errorMessage(err);
    add(
      'containerd',
      'fail',
      /EACCES|EPERM|PERMISSION_DENIED/.test(cause)
        ? `${address}: ${cause}; run as root or as a member of the socket's group (the installed unit adds it)`
        : `${address}: ${cause}`,
    );
  } finally {
    client.close();
  }
}

function dockerAdvice(dockerHost: string, err: unknown): string {
  const cause = err instanceof DockerError ? err.message : errorMessage(err);
  if (/EACCES|EPERM/.test(cause)) {
    return `${cause}; run as root or as a member of the socket's group (the installed unit adds it)`;
  }
  if (err instanceof DockerError) return cause;
  return `${dockerHost}: ${cause}`;
}

export function formatChecks(checks: Check[]): string {
  const mark: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };
  return `${checks.map((c) => `${mark[c.status]} ${c.name.padEnd(11)} ${c.detail}`).join('\n')}\n`;
}
