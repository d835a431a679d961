import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { K3s } from '@ballast/shared';
import { errorMessage } from '../log.js';
import { PodLogsMeter } from './pod-logs.js';

/** Where k3s keeps things; every path injectable so tests can point at a temporary tree. */
export interface K3sPaths {
  dataDir: string;
  socket: string;
  configFile: string;
  configDir: string;
  podLogsDir: string;
}

export const DEFAULT_K3S_PATHS: K3sPaths = {
  dataDir: '/var/lib/rancher/k3s',
  socket: '/run/k3s/containerd/containerd.sock',
  configFile: '/etc/rancher/k3s/config.yaml',
  configDir: '/etc/rancher/k3s/config.yaml.d',
  podLogsDir: '/var/log/pods',
};

/** kubelet's defaults (kubernetes pkg/kubelet/apis/config/v1beta1/defaults.go). */
const KUBELET_DEFAULTS = {
  imageGCHighThresholdPercent: '85',
  imageGCLowThresholdPercent: '80',
  imageMinimumGCAge: '2m0s',
  imageMaximumGCAge: '0s',
  containerLogMaxSize: '10Mi',
  containerLogMaxFiles: '5',
} as const;
type KubeletKey = keyof typeof KUBELET_DEFAULTS;

/** kubelet command-line flags (as k3s passes `kubelet-arg` entries) for each setting. */
export const KUBELET_FLAGS: Record<string, KubeletKey> = {
  'image-gc-high-threshold': 'imageGCHighThresholdPercent',
  'image-gc-low-threshold': 'imageGCLowThresholdPercent',
  'minimum-image-ttl-duration': 'imageMinimumGCAge',
  'image-maximum-gc-age': 'imageMaximumGCAge',
  'container-log-max-size': 'containerLogMaxSize',
  'container-log-max-files': 'containerLogMaxFiles',
};

/**
 * One pod-log meter per set of k3s paths, so every reading of the same host (each interval's
 * pass, a job's plan) reuses the directory listings of the one before.
 */
const meters = new WeakMap<K3sPaths, PodLogsMeter>();
export function podLogsMeter(paths: K3sPaths): PodLogsMeter {
  let meter = meters.get(paths);
  if (!meter) {
    meter = new PodLogsMeter();
    meters.set(paths, meter);
  }
  return meter;
}

export function k3sPresent(paths: K3sPaths): boolean {
  return existsSync(path.join(paths.dataDir, 'agent', 'containerd')) || existsSync(paths.socket);
}

function unquote(value: string): string {
  const v = value.trim();
  if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) return v.slice(1, -1);
  return v;
}

/**
 * The `kubelet-arg` entries of one k3s config file. k3s config is YAML whose keys mirror the
 * CLI flags; kubelet-arg is a string or a list of `flag=value` strings, in block form
 * (`- "a=b"`) or flow form (`["a=b", "c=d"]`). Only that key is read; a file whose kubelet-arg
 * is written some other way is reported as unreadable rather than guessed at.
 */
export interface KubeletArgEntry {
  /** `kubelet-arg+:` appends to what earlier files set; `kubelet-arg:` replaces it. */
  append: boolean;
  args: string[];
}

export function parseKubeletArgs(text: string, file: string): KubeletArgEntry[] {
  const lines = text.split(/\r?\n/);
  const entries: KubeletArgEntry[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    const m = /^(["']?)kubelet-arg(\+?)\1\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    const out: string[] = [];
    entries.push({ append: m[2] === '+', args: out });
    const rest = (m[3] ?? '').replace(/\s+#.*$/, '').trim();
    if (rest.startsWith('[')) {
      if (!rest.endsWith(']')) throw new Error(`${file}:${i + 1}: kubelet-arg flow list must be on one line`);
      const inner = rest.slice(1, -1).trim();
      if (inner) out.push(...inner.split(',').map(unquote));
    } else if (rest) {
      out.push(unquote(rest));
    } else {
      for (let j = i + 1; j < lines.length; j += 1) {
        const item = /^\s*-\s+(.*)$/.exec(lines[j] ?? '');
        if (!item) {
          if ((lines[j] ?? '').trim() === '' || (lines[j] ?? '').trim().startsWith('#')) continue;
          break;
        }
        out.push(unquote((item[1] ?? '').replace(/\s+#.*$/, '')));
      }
    }
  }
  return entries;
}

/** config.yaml, then config.yaml.d/*.yaml in lexical order: later files win (k3s's order). */
function configFiles(paths: K3sPaths, extra: readonly string[] = []): string[] {
  const files: string[] = [];
  if (existsSync(paths.configFile)) files.push(paths.configFile);
  const dropIns = new Set(extra.filter((f) => path.dirname(f) === paths.configDir).map((f) => path.basename(f)));
  try {
    for (const name of readdirSync(paths.configDir)) dropIns.add(name);
  } catch {
    // no drop-in directory
  }
  for (const name of [...dropIns].sort()) {
    if (/\.ya?ml$/.test(name)) files.push(path.join(paths.configDir, name));
  }
  return files;
}

/** Reads k3s's paths, the kubelet image-GC and log-rotation settings, air-gap images, and measures pod logs. */
export async function readK3s(
  paths: K3sPaths,
  signal?: AbortSignal,
  /** File texts to use instead of what is on disk (a planned change, read back before writing it). */
  overrides: ReadonlyMap<string, string> = new Map(),
): Promise<K3s> {
  const kubelet = Object.fromEntries(
    Object.entries(KUBELET_DEFAULTS).map(([k, v]) => [k, { value: v, source: 'default' }]),
  ) as K3s['kubelet'];
  const files = configFiles(paths, [...overrides.keys()]);
  const configErrors: string[] = [];
  // k3s merges its files in order: a later `kubelet-arg` replaces the list, `kubelet-arg+`
  // appends to it; kubelet then takes the last value of a repeated flag.
  let effective: Array<{ arg: string; file: string }> = [];
  for (const file of files) {
    let entries: KubeletArgEntry[];
    try {
      entries = parseKubeletArgs(overrides.get(file) ?? readFileSync(file, 'utf8'), file);
    } catch (err) {
      configErrors.push(errorMessage(err));
      continue;
    }
    for (const entry of entries) {
      const items = entry.args.map((arg) => ({ arg, file }));
      effective = entry.append ? [...effective, ...items] : items;
    }
  }
  for (const { arg, file } of effective) {
    const eq = arg.indexOf('=');
    if (eq < 0) continue;
    const key = KUBELET_FLAGS[arg.slice(0, eq).replace(/^--/, '')];
    if (key) kubelet[key] = { value: arg.slice(eq + 1), source: `${file} kubelet-arg` };
  }
  const imagesDir = path.join(paths.dataDir, 'agent', 'images');
  const airgapImageFiles: K3s['airgapImageFiles'] = [];
  try {
    for (const name of readdirSync(imagesDir).sort()) {
      const st = statSync(path.join(imagesDir, name));
      if (st.isFile()) airgapImageFiles.push({ path: path.join(imagesDir, name), bytes: st.size });
    }
  } catch {
    // no air-gap images
  }
  let podLogs: K3s['podLogs'] = { path: paths.podLogsDir, bytes: 0, allocatedBytes: 0, files: 0, measured: false };
  if (existsSync(paths.podLogsDir)) {
    const usage = await podLogsMeter(paths).measure(paths.podLogsDir, signal);
    podLogs = { path: paths.podLogsDir, ...usage, measured: true };
  }
  return {
    dataDir: paths.dataDir,
    socket: existsSync(paths.socket) ? paths.socket : null,
    configFiles: files,
    configErrors,
    kubelet,
    airgapImageFiles,
    podLogs,
  };
}
