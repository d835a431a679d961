import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { HostInfo } from '@ballast/shared';
import type { StateStore } from './state/store.js';

export interface HostPaths {
  machineIdFile: string;
  osReleaseFile: string;
}

export const DEFAULT_HOST_PATHS: HostPaths = { machineIdFile: '/etc/machine-id', osReleaseFile: '/etc/os-release' };

/** systemd's machine ID identifies the host across reinstalls of the agent; else a generated one kept in the state dir. */
export async function readMachineId(file: string, state: StateStore): Promise<string> {
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[0-9a-fA-F]{32}$/.test(id)) return id.toLowerCase();
  } catch {}
  return state.fallbackMachineId();
}

export async function readOsName(file: string): Promise<string | null> {
  try {
    const text = await readFile(file, 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('PRETTY_NAME='));
    return line ? line.slice('PRETTY_NAME='.length).replace(/^"(.*)"$/, '$1') : null;
  } catch {
    return null;
  }
}

export async function readHostInfo(
  paths: HostPaths,
  state: StateStore,
  labels: Record<string, string>,
): Promise<HostInfo> {
  return {
    hostname: os.hostname(),
    machineId: await readMachineId(paths.machineIdFile, state),
    os: await readOsName(paths.osReleaseFile),
    kernel: os.release(),
    labels,
  };
}
