import { readFileSync } from 'node:fs';
import { JOB_KINDS, type JobKind } from '@ballast/shared';
import * as z from '@ballast/shared/zod';
import { LOG_LEVELS } from '../log.js';

/** Where `install` writes the config and where every command looks when --config is not given. */
export const DEFAULT_CONFIG_FILE = '/etc/ballast/agent.json';

const patternOrLabel = z.string().check(z.minLength(1), z.maxLength(256));
const absolutePath = z.string().check(z.startsWith('/', 'must be an absolute path'));
/** An optional setting that, when given, is not empty (config keys, flags, environment). */
export const optionalText = z.optional(z.string().check(z.minLength(1)));
const optionalSeconds = z.optional(z.int().check(z.gte(1), z.lte(86_400)));

/**
 * What the agent may do to this host. The server cannot widen any of it: a job of a disabled
 * kind, or one touching a protected image, is refused or skipped by the agent itself.
 */
export const ZRemediationConfig = z.strictObject({
  /** false: the agent refuses every job (plans included); it only measures. */
  enabled: z._default(z.boolean(), true),
  /** Kinds refused even when remediation is enabled. */
  disabledKinds: z._default(z.array(z.enum(JOB_KINDS)), []),
  /** Image references (glob, `*` wildcard) never removed, whatever a job says. */
  protectedImagePatterns: z._default(z.array(patternOrLabel).check(z.maxLength(500)), []),
  /** Labels (`key` or `key=value`) protecting images, containers and volumes. */
  protectedLabels: z._default(z.array(patternOrLabel).check(z.maxLength(500)), ['com.ballast.protect']),
  /** The engine's daemon.json, edited (with a backup) by the configure* kinds. */
  daemonConfigFile: z._default(absolutePath, '/etc/docker/daemon.json'),
});
export type RemediationConfig = z.output<typeof ZRemediationConfig>;

export const DEFAULT_REMEDIATION: RemediationConfig = ZRemediationConfig.parse({});

/** The agent's config file (JSON). Every key is optional; flags and environment override it. */
export const ZAgentConfigFile = z.strictObject({
  server: optionalText,
  caFile: optionalText,
  stateDir: optionalText,
  dockerHost: optionalText,
  /** Which engines to measure: auto (from the sockets present), docker, containerd or both. */
  collector: z.optional(z.enum(['auto', 'docker', 'containerd', 'both'])),
  containerdAddress: z.optional(z.string().check(z.startsWith('/', 'must be an absolute socket path'))),
  containerdNamespace: z.optional(z.string().check(z.minLength(1), z.maxLength(76))),
  dataRoot: z.optional(absolutePath),
  machineIdFile: optionalText,
  labels: z.optional(z.record(z.string().check(z.minLength(1), z.maxLength(128)), z.string().check(z.maxLength(256)))),
  intervalSeconds: optionalSeconds,
  slowIntervalSeconds: optionalSeconds,
  logLevel: z.optional(z.enum(LOG_LEVELS)),
  remediation: z._default(ZRemediationConfig, DEFAULT_REMEDIATION),
});
export type AgentConfigFile = z.output<typeof ZAgentConfigFile>;

export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
}

/**
 * Reads the config file. A missing file is an error only when it was named explicitly;
 * the default path may be absent (an agent started by hand with flags).
 */
export function loadConfigFile(file: string, explicit: boolean): { config: AgentConfigFile; path: string | null } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) {
      return { config: ZAgentConfigFile.parse({}), path: null };
    }
    throw new ConfigFileError(`config file ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigFileError(`config file ${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = ZAgentConfigFile.safeParse(value);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new ConfigFileError(`config file ${file} is invalid:\n${lines.join('\n')}`);
  }
  return { config: parsed.data, path: file };
}

/** Whether the config lets this kind run, and if not, why. */
export function kindAllowed(
  remediation: RemediationConfig,
  kind: JobKind,
): { ok: true } | { ok: false; reason: string } {
  if (!remediation.enabled)
    return { ok: false, reason: 'remediation is disabled in the agent config (remediation.enabled: false)' };
  if (remediation.disabledKinds.includes(kind)) {
    return { ok: false, reason: `${kind} is disabled in the agent config (remediation.disabledKinds)` };
  }
  return { ok: true };
}
