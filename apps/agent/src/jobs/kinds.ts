import type { JobKind } from '@ballast/shared';
import type { ContainerdJobTarget } from './containerd-images.js';

/** Kinds acting through the Engine API or on Docker's own files (daemon.json, json logs). */
const DOCKER_KINDS: readonly JobKind[] = [
  'images.pruneDangling',
  'images.pruneUnused',
  'containers.pruneStopped',
  'buildCache.prune',
  'volumes.remove',
  'logs.truncate',
  'logs.configureRotation',
  'buildCache.configureGC',
];
/** Kinds acting through containerd's API: its images, with CRI's and k3s's protections. */
const CONTAINERD_KINDS: readonly JobKind[] = ['images.pruneDangling', 'images.pruneUnused'];
/** Kinds editing k3s's configuration: only where k3s was found. */
const K3S_KINDS: readonly JobKind[] = ['k3s.configureImageGC', 'k3s.configureLogRotation'];

export interface JobHost {
  /** Docker is the engine jobs act on. */
  docker: boolean;
  /** containerd is the engine jobs act on (measured alone), with k3s's paths when present. */
  containerd: ContainerdJobTarget | null;
}

/**
 * The kinds this host can run, whatever the config allows. Deny by default: a kind appears only
 * when the engine it acts on is the one jobs act on here, so a host without Docker never
 * advertises Docker's kinds and a host without k3s never advertises k3s's.
 */
export function hostJobKinds(host: JobHost): JobKind[] {
  if (host.containerd) return [...CONTAINERD_KINDS, ...(host.containerd.k3sPaths ? K3S_KINDS : [])];
  return host.docker ? [...DOCKER_KINDS] : [];
}

/** Why a kind cannot run here, for the refusal; null when it can. */
export function hostRefusal(host: JobHost, kind: JobKind): string | null {
  const kinds = hostJobKinds(host);
  if (kinds.includes(kind)) return null;
  const runs = kinds.length > 0 ? `only ${kinds.join(', ')} apply` : 'no job kind applies';
  if (host.containerd) {
    const k3s = host.containerd.k3sPaths ? '' : ' without k3s';
    return `${kind} cannot run on this host: it is measured through containerd (namespace ${host.containerd.client.namespace})${k3s}, so ${runs}`;
  }
  if (host.docker)
    return `${kind} cannot run on this host: jobs act on Docker here (k3s's configuration is edited only on hosts measured through containerd), so ${runs}`;
  return `${kind} cannot run on this host: no engine that jobs act on was found`;
}
