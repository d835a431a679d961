import type { JobKind } from '@ballast/shared';
import type { RemediationConfig } from '../config/file.js';
import { containerdStoreRoots } from '../containerd/roots.js';
import type { DockerClient } from '../docker/client.js';
import type { Scanner } from '../scanner.js';
import { freeBytesOf, nearestExisting } from './free-space.js';
import { type JobEnv, JobRefusal } from './types.js';

/** Jobs measured by the agent's own scanner, so plan bytes are the dashboard's bytes. */
export function scannerJobEnv(options: {
  client: DockerClient;
  scanner: Scanner;
  /** Whether the scanner measures Docker (the collector selection's answer). */
  docker: boolean;
  remediation: RemediationConfig;
  dataRootOverride: string | null;
  now?: () => Date;
}): JobEnv {
  const containerd = options.scanner.containerdJobTarget();
  const dataRoot = async (signal?: AbortSignal) => {
    if (containerd)
      throw new JobRefusal('invalid', 'this host is measured through containerd: there is no Docker data root');
    const info = await options.client.info(signal);
    return { enginePath: info.DockerRootDir, localPath: options.dataRootOverride ?? info.DockerRootDir };
  };
  /** The directories whose filesystems a job of this kind frees or fills. */
  const storePaths = async (kind: JobKind, signal?: AbortSignal): Promise<string[]> => {
    if (!containerd) return [(await dataRoot(signal)).localPath];
    if (kind === 'k3s.configureLogRotation' && containerd.k3sPaths) {
      return [await nearestExisting(containerd.k3sPaths.podLogsDir)];
    }
    // Asked of the daemon each time: a fresh process has not scanned yet, and `/` may be
    // another filesystem than the store's.
    const roots = await containerdStoreRoots(containerd.client, containerd.snapshotter, signal);
    if (roots.length > 0) return roots;
    const scanned = options.scanner.containerdRoot;
    if (scanned) return [scanned];
    throw new JobRefusal(
      'invalid',
      `the free space of containerd's store is unknown: containerd exports no content store or ${containerd.snapshotter} snapshotter root, and no scan has found one`,
    );
  };
  return {
    client: options.client,
    remediation: options.remediation,
    docker: options.docker,
    containerd,
    measure: (signal) => options.scanner.scanOnce(signal),
    dataRoot,
    freeSpace: async (kind, signal) => freeBytesOf(await storePaths(kind, signal)),
    now: options.now ?? (() => new Date()),
  };
}
