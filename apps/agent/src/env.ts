import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_WS_PATH } from '@ballast/shared';
import * as z from '@ballast/shared/zod';
import type { HashBudget } from './analysis/budget.js';
import {
  type AgentConfigFile,
  ConfigFileError,
  DEFAULT_CONFIG_FILE,
  loadConfigFile,
  optionalText,
  type RemediationConfig,
} from './config/file.js';
import { DEFAULT_DOCKER_HOST, type DockerEndpoint, parseDockerHost } from './docker/endpoint.js';
import { CREDENTIAL_FILE } from './enroll/enroll.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

/**
 * The agent's whole configuration: command-line flags over environment over the config file
 * over defaults, parsed once. Nothing else reads process.env.
 */
const ZEnv = z.object({
  BALLAST_CONFIG: optionalText,
  DOCKER_HOST: optionalText,
  /** containerd's own variables, as ctr and nerdctl read them. */
  CONTAINERD_ADDRESS: optionalText,
  CONTAINERD_NAMESPACE: optionalText,
  BALLAST_SERVER: optionalText,
  /** Preferred over --token: a flag is visible to every user in `ps`. */
  BALLAST_TOKEN: optionalText,
  BALLAST_STATE_DIR: optionalText,
  BALLAST_LOG_LEVEL: z.optional(z.enum(LOG_LEVELS)),
});
export type Env = z.infer<typeof ZEnv>;

export function readEnv(source: Record<string, string | undefined> = process.env): Env {
  return parseOrThrow(ZEnv, source, 'environment');
}

export const COLLECTOR_MODES = ['auto', 'docker', 'containerd', 'both'] as const;
export type CollectorMode = (typeof COLLECTOR_MODES)[number];

export const DEFAULT_STATE_DIR = '/var/lib/ballast-agent';

/** Flags as node:util parseArgs returns them. */
export type RawFlags = Record<string, string | boolean | Array<string | boolean> | undefined>;

// Flag schemas are loose: each checks its own flags among all the command's flags.
const ZConfigFlag = z.looseObject({ config: optionalText });

/** Loads --config / $BALLAST_CONFIG, else the default file when it exists. */
export function resolveConfigFile(flags: RawFlags, env: Env): { config: AgentConfigFile; path: string | null } {
  const f = parseOrThrow(ZConfigFlag, flags, 'flags');
  const named = f.config ?? env.BALLAST_CONFIG;
  try {
    return loadConfigFile(named ?? DEFAULT_CONFIG_FILE, named !== undefined);
  } catch (err) {
    if (err instanceof ConfigFileError) throw new ConfigError(err.message);
    throw err;
  }
}

const optionalSeconds = (min: number) =>
  z.optional(
    z.coerce
      .number()
      .check(
        z.int('must be a whole number of seconds'),
        z.gte(min, `must be at least ${min}`),
        z.lte(86_400, 'must be at most 86400'),
      ),
  );

const ZCommonFlags = z.looseObject({
  'docker-host': optionalText,
  collector: z.optional(z.enum(COLLECTOR_MODES)),
  'containerd-address': optionalText,
  'containerd-namespace': z.optional(z.string().check(z.minLength(1), z.maxLength(76))),
  'state-dir': optionalText,
  'data-root': z.optional(z.string().check(z.startsWith('/', 'must be an absolute path'))),
  'machine-id-file': optionalText,
  label: z.pipe(
    z.optional(z.array(z.string().check(z.regex(/^[^=\s]+=.*$/, 'must be key=value')))),
    z.transform((pairs) =>
      pairs
        ? Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]))
        : undefined,
    ),
  ),
  'slow-interval': optionalSeconds(1),
  'log-level': z.optional(z.enum(LOG_LEVELS)),
});

export interface CommonConfig {
  /** The config file read, or null when none was (the default path may be absent). */
  configFile: string | null;
  file: AgentConfigFile;
  remediation: RemediationConfig;
  docker: DockerEndpoint;
  /** True when the Docker endpoint was named (flag, DOCKER_HOST or config), not the default. */
  dockerExplicit: boolean;
  collector: CollectorMode;
  /** Socket path when named (flag, CONTAINERD_ADDRESS or config); null lets the agent look. */
  containerdAddress: string | null;
  /** Named namespace, or null: moby beside a Docker using the containerd store, else k8s.io. */
  containerdNamespace: string | null;
  stateDir: string;
  dataRootOverride: string | null;
  machineIdFile: string;
  hostLabels: Record<string, string>;
  slowIntervalSeconds: number;
  logLevel: LogLevel;
}

export interface ScanConfig extends CommonConfig {
  json: boolean;
  progress: boolean;
  /** Content analysis budget with --analyze; null without. */
  analysis: HashBudget | null;
}

export interface RunConfig extends CommonConfig {
  /** ws:// or wss:// URL of the agent endpoint. */
  serverUrl: string;
  token: string;
  intervalSeconds: number;
  caFile: string | null;
  /** Content analysis budget per slow pass; null when --hash-rate 0 turns it off. */
  analysis: HashBudget | null;
}

function parseOrThrow<T extends z.ZodMiniType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = i.path.map(String).join('.');
      return `  ${what === 'flags' ? `--${key}` : key}: ${i.message}`;
    });
    throw new ConfigError(`invalid ${what}:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function resolveCommonConfig(flags: RawFlags, env: Env): CommonConfig {
  const f = parseOrThrow(ZCommonFlags, flags, 'flags');
  const { config: file, path: configFile } = resolveConfigFile(flags, env);
  let docker: DockerEndpoint;
  const dockerHost = f['docker-host'] ?? env.DOCKER_HOST ?? file.dockerHost;
  try {
    docker = parseDockerHost(dockerHost ?? DEFAULT_DOCKER_HOST);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const containerdAddress = f['containerd-address'] ?? env.CONTAINERD_ADDRESS ?? file.containerdAddress ?? null;
  if (containerdAddress !== null && !containerdAddress.replace(/^unix:\/\//, '').startsWith('/')) {
    throw new ConfigError(`containerd address ${containerdAddress}: expected an absolute unix socket path`);
  }
  return {
    configFile,
    file,
    remediation: file.remediation,
    docker,
    dockerExplicit: dockerHost !== undefined,
    collector: f.collector ?? file.collector ?? 'auto',
    containerdAddress,
    containerdNamespace: f['containerd-namespace'] ?? env.CONTAINERD_NAMESPACE ?? file.containerdNamespace ?? null,
    stateDir: f['state-dir'] ?? env.BALLAST_STATE_DIR ?? file.stateDir ?? DEFAULT_STATE_DIR,
    dataRootOverride: f['data-root'] ?? file.dataRoot ?? null,
    machineIdFile: f['machine-id-file'] ?? file.machineIdFile ?? '/etc/machine-id',
    hostLabels: f.label ?? file.labels ?? {},
    slowIntervalSeconds: f['slow-interval'] ?? file.slowIntervalSeconds ?? 600,
    logLevel: f['log-level'] ?? env.BALLAST_LOG_LEVEL ?? file.logLevel ?? 'info',
  };
}

const MIB = 1024 * 1024;
/** run: 32 MiB/s of reads, at most 120 s of hashing started per slow pass. */
export const DEFAULT_RUN_HASH_RATE_MIB = 32;
export const DEFAULT_RUN_HASH_PASS_SECONDS = 120;

const ZHashFlags = z.looseObject({
  'hash-rate': z.optional(z.coerce.number().check(z.int('must be a whole number of MiB/s'), z.gte(0), z.lte(100_000))),
  'hash-pass-seconds': optionalSeconds(1),
});

export function resolveScanConfig(flags: RawFlags, env: Env): ScanConfig {
  const h = parseOrThrow(ZHashFlags, flags, 'flags');
  const analyze = flags.analyze === true;
  return {
    ...resolveCommonConfig(flags, env),
    json: flags.json === true,
    progress: flags.progress === true,
    // A one-off scan hashes everything it finds unless a rate is given.
    analysis: analyze
      ? { bytesPerSecond: h['hash-rate'] ? h['hash-rate'] * MIB : null, passSeconds: h['hash-pass-seconds'] ?? null }
      : null,
  };
}

/** http(s) and ws(s) base URLs both work; the agent path is appended unless already there. */
export function agentSocketUrl(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ConfigError(`--server ${server}: not a URL (expected https://ballast.example.com)`);
  }
  const scheme = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[url.protocol];
  if (!scheme) throw new ConfigError(`--server ${server}: use an https:// (or http:// for local testing) URL`);
  url.protocol = scheme;
  const base = url.pathname.replace(/\/+$/, '');
  if (!base.endsWith(AGENT_WS_PATH)) url.pathname = `${base}${AGENT_WS_PATH}`;
  url.hash = '';
  return url.toString();
}

const ZRunFlags = z.looseObject({
  server: optionalText,
  token: optionalText,
  'token-file': optionalText,
  interval: optionalSeconds(1),
  'ca-file': optionalText,
});

export function resolveRunConfig(flags: RawFlags, env: Env): RunConfig {
  const common = resolveCommonConfig(flags, env);
  const f = parseOrThrow(ZRunFlags, flags, 'flags');
  const server = f.server ?? env.BALLAST_SERVER ?? common.file.server;
  if (!server) throw new ConfigError('run needs --server URL (or BALLAST_SERVER, or "server" in the config file)');
  let token = f.token ?? env.BALLAST_TOKEN;
  if (f['token-file']) {
    try {
      token = readFileSync(f['token-file'], 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`--token-file ${f['token-file']}: ${(err as Error).message}`);
    }
  }
  // The credential `enroll` stored is the normal case; a token given explicitly overrides it.
  token ??= readStoredCredentialSync(common.stateDir);
  if (!token) {
    throw new ConfigError(
      `run needs a token: enroll first (ballast-agent enroll), or --token-file PATH, BALLAST_TOKEN, or --token TOKEN (no credential in ${common.stateDir})`,
    );
  }
  const h = parseOrThrow(ZHashFlags, flags, 'flags');
  const rate = h['hash-rate'] ?? DEFAULT_RUN_HASH_RATE_MIB;
  return {
    ...common,
    serverUrl: agentSocketUrl(server),
    token,
    intervalSeconds: f.interval ?? common.file.intervalSeconds ?? 60,
    caFile: f['ca-file'] ?? common.file.caFile ?? null,
    analysis:
      rate === 0
        ? null
        : { bytesPerSecond: rate * MIB, passSeconds: h['hash-pass-seconds'] ?? DEFAULT_RUN_HASH_PASS_SECONDS },
  };
}

function readStoredCredentialSync(stateDir: string): string | undefined {
  try {
    return readFileSync(path.join(stateDir, CREDENTIAL_FILE), 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${path.join(stateDir, CREDENTIAL_FILE)}: ${(err as Error).message}`);
  }
}

export interface EnrollConfig {
  server: string;
  token: string;
  stateDir: string;
  machineIdFile: string;
  caFile: string | null;
  logLevel: LogLevel;
}

const ZEnrollFlags = z.looseObject({
  server: optionalText,
  token: optionalText,
  'token-file': optionalText,
  'state-dir': optionalText,
  'machine-id-file': optionalText,
  'ca-file': optionalText,
  'log-level': z.optional(z.enum(LOG_LEVELS)),
});

export function resolveEnrollConfig(flags: RawFlags, env: Env): EnrollConfig {
  const f = parseOrThrow(ZEnrollFlags, flags, 'flags');
  const { config: file } = resolveConfigFile(flags, env);
  const server = f.server ?? env.BALLAST_SERVER ?? file.server;
  if (!server) throw new ConfigError('enroll needs --server URL (or BALLAST_SERVER, or "server" in the config file)');
  let token = f.token;
  if (f['token-file']) {
    try {
      token = readFileSync(f['token-file'], 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`--token-file ${f['token-file']}: ${(err as Error).message}`);
    }
  }
  if (!token) throw new ConfigError('enroll needs an enrollment token: --token TOKEN or --token-file PATH');
  return {
    server,
    token,
    stateDir: f['state-dir'] ?? env.BALLAST_STATE_DIR ?? file.stateDir ?? DEFAULT_STATE_DIR,
    machineIdFile: f['machine-id-file'] ?? file.machineIdFile ?? '/etc/machine-id',
    caFile: f['ca-file'] ?? file.caFile ?? null,
    logLevel: f['log-level'] ?? env.BALLAST_LOG_LEVEL ?? file.logLevel ?? 'info',
  };
}
