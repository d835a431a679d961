import { existsSync } from 'node:fs';
import type { CollectorMode } from '../env.js';

export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
export const K3S_CONTAINERD_SOCKET = '/run/k3s/containerd/containerd.sock';

/** Docker's `driver-type` (in `docker info`'s DriverStatus) when it keeps its images in containerd. */
const DOCKER_CONTAINERD_SNAPSHOTTER = 'io.containerd.snapshotter.v1';

/** Whether Docker keeps its images in containerd (the `moby` namespace), from its DriverStatus. */
export function dockerUsesContainerdStore(driverStatus: ReadonlyArray<ReadonlyArray<string>>): boolean {
  return driverStatus.find(([key]) => key === 'driver-type')?.[1] === DOCKER_CONTAINERD_SNAPSHOTTER;
}

export interface SelectionInput {
  mode: CollectorMode;
  dockerExplicit: boolean;
  /** Unix socket of the Docker endpoint, or null for TCP. */
  dockerSocket: string | null;
  containerdAddress: string | null;
  containerdNamespace: string | null;
  /** Candidate containerd sockets in order (k3s first: on a k3s host it is the one kubelet uses). */
  containerdSockets?: readonly string[];
  exists?: (path: string) => boolean;
}

export interface Selection {
  docker: { used: boolean; reason: string };
  containerd: {
    used: boolean;
    reason: string;
    address: string | null;
    /** null: decided after Docker's engine answers (moby when it uses the containerd image store). */
    namespace: string | null;
    /**
     * True when containerd was found only through the default socket next to Docker: it is
     * measured only if Docker turns out to keep its images there (Docker's own containerd
     * otherwise holds nothing but tasks).
     */
    onlyForDockerStore: boolean;
  };
}

/**
 * Which collectors to run. Explicit configuration wins; `auto` looks at the sockets the
 * host has. Both may run on one host.
 */
export function selectCollectors(input: SelectionInput): Selection {
  const exists = input.exists ?? existsSync;
  const sockets = input.containerdSockets ?? [K3S_CONTAINERD_SOCKET, CONTAINERD_SOCKET];
  const found = input.containerdAddress ?? sockets.find((s) => exists(s)) ?? null;
  const address = found?.replace(/^unix:\/\//, '') ?? null;
  const dockerPresent = input.dockerExplicit || input.dockerSocket === null || exists(input.dockerSocket);
  const namespace = input.containerdNamespace ?? (address === K3S_CONTAINERD_SOCKET ? 'k8s.io' : null);

  const docker = (used: boolean, reason: string) => ({ used, reason });
  const containerd = (used: boolean, reason: string, onlyForDockerStore = false) => ({
    used,
    reason,
    address: used ? (address ?? input.containerdAddress ?? CONTAINERD_SOCKET) : address,
    namespace,
    onlyForDockerStore,
  });
  switch (input.mode) {
    case 'docker':
      return {
        docker: docker(true, 'configured (collector docker)'),
        containerd: containerd(false, 'configured (collector docker)'),
      };
    case 'containerd':
      return {
        docker: docker(false, 'configured (collector containerd)'),
        containerd: containerd(true, 'configured (collector containerd)'),
      };
    case 'both':
      return {
        docker: docker(true, 'configured (collector both)'),
        containerd: containerd(true, 'configured (collector both)'),
      };
    case 'auto': {
      const d = input.dockerExplicit
        ? docker(true, 'Docker endpoint configured')
        : dockerPresent
          ? docker(true, `socket ${input.dockerSocket} present`)
          : docker(false, `no Docker socket at ${input.dockerSocket}`);
      let c: Selection['containerd'];
      if (input.containerdAddress) c = containerd(true, 'containerd address configured');
      else if (!address) c = containerd(false, `no containerd socket at ${sockets.join(' or ')}`);
      else if (address === K3S_CONTAINERD_SOCKET || !d.used) c = containerd(true, `socket ${address} present`);
      else
        c = containerd(
          true,
          `socket ${address} present beside Docker: measured when Docker keeps its images in containerd`,
          true,
        );
      return { docker: d, containerd: c };
    }
  }
}
