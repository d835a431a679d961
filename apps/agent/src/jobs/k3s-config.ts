import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigChange } from '@ballast/shared';
import { type K3sPaths, KUBELET_FLAGS, parseKubeletArgs, readK3s } from '../containerd/k3s.js';
import { backupPathFor, writeFileAtomic } from './daemon-config.js';
import { JobRefusal, type PlanDraft, type SpecOf } from './types.js';

/** The drop-in the agent owns: late in the order, appending (`kubelet-arg+`) to what is set before it. */
export const K3S_DROP_IN = '90-ballast.yaml';

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new JobRefusal('invalid', `cannot read ${file}: ${(err as Error).message}`);
  }
}

function render(jobId: string, args: string[]): string {
  return [
    `# Written by ballast-agent (job ${jobId}); k3s reads it after config.yaml. Restart k3s to apply.`,
    'kubelet-arg+:',
    ...args.map((a) => `  - ${JSON.stringify(a)}`),
    '',
  ].join('\n');
}

/**
 * Sets kubelet flags through k3s's drop-in directory: the agent's own file keeps its other
 * flags, this job's flags are replaced. Refused when a later file would override the result
 * (a later `kubelet-arg` without `+` replaces every earlier list), checked by reading the
 * configuration back as it would be after the change.
 */
export async function planK3sKubeletFlags(
  paths: K3sPaths | null,
  jobId: string,
  spec: SpecOf<'k3s.configureImageGC'> | SpecOf<'k3s.configureLogRotation'>,
): Promise<PlanDraft> {
  if (!paths) throw new JobRefusal('invalid', `${spec.kind}: k3s was not found on this host`);
  const flags: Record<string, string> =
    spec.kind === 'k3s.configureImageGC'
      ? {
          'image-gc-high-threshold': String(spec.params.highThresholdPercent),
          'image-gc-low-threshold': String(spec.params.lowThresholdPercent),
        }
      : {
          'container-log-max-size': spec.params.maxSize,
          'container-log-max-files': String(spec.params.maxFiles),
        };
  const file = path.join(paths.configDir, K3S_DROP_IN);
  const before = await readOptional(file);
  let kept: string[] = [];
  if (before !== null) {
    try {
      kept = parseKubeletArgs(before, file).flatMap((e) => e.args);
    } catch (err) {
      throw new JobRefusal('invalid', `${(err as Error).message}; fix ${file} by hand first, nothing was changed`);
    }
  }
  const name = (arg: string) => arg.slice(0, arg.indexOf('=')).replace(/^--/, '');
  const args = [...kept.filter((a) => !(name(a) in flags)), ...Object.entries(flags).map(([k, v]) => `${k}=${v}`)];
  const after = render(jobId, args);

  // Read the configuration back as k3s would after the change.
  const current = await readK3s(paths);
  const simulated = await readK3s(paths, undefined, new Map([[file, after]]));
  for (const [flag, value] of Object.entries(flags)) {
    const key = KUBELET_FLAGS[flag];
    if (!key) continue;
    const got = simulated.kubelet[key];
    if (got.value !== value) {
      const later = simulated.configFiles.filter((f) => path.dirname(f) === paths.configDir && f > file);
      throw new JobRefusal(
        'invalid',
        `${flag} would be ${got.value} (${got.source}), not ${value}: a later file (${later.join(', ') || 'none found'}) overrides ${file}; change it there`,
      );
    }
  }
  const change: ConfigChange = {
    path: file,
    before,
    after,
    backupPath: backupPathFor(file, jobId),
    restartRequired: true,
  };
  const now = Object.entries(flags)
    .map(([flag]) => {
      const key = KUBELET_FLAGS[flag];
      return key ? `${flag} ${current.kubelet[key].value} (${current.kubelet[key].source})` : flag;
    })
    .join(', ');
  return {
    items: [{ type: 'daemonConfig', id: file, name: K3S_DROP_IN, bytes: 0, note: `now: ${now}` }],
    skipped: [],
    notes: [
      `kubelet reads these flags at start: restart k3s (systemctl restart k3s, or k3s-agent) to apply them; the agent never restarts it.${before === null ? '' : ` The current file is kept as ${change.backupPath}.`}`,
    ],
    configChange: change,
  };
}

/** Writes the planned drop-in: refused when the file changed since the plan; backup first, then an atomic replace. */
export async function applyK3sChange(c: ConfigChange): Promise<void> {
  const current = await readOptional(c.path);
  if (current !== c.before) {
    throw new JobRefusal('plan_mismatch', `${c.path} changed since the plan was made; nothing was written`);
  }
  parseKubeletArgs(c.after, c.path);
  await mkdir(path.dirname(c.path), { recursive: true, mode: 0o755 });
  const mode = current === null ? 0o600 : (await stat(c.path)).mode & 0o777;
  if (current !== null) await writeFileAtomic(c.backupPath, current, mode);
  await writeFileAtomic(c.path, c.after, mode);
}
