import type { RemediationConfig } from '../config/file.js';
import type { DockerClient } from '../docker/client.js';
import type { Scanner } from '../scanner.js';
import type { JobEnv } from './types.js';

/** Jobs measured by the agent's own scanner, so plan bytes are the dashboard's bytes. */
export function scannerJobEnv(options: {
  client: DockerClient;
  scanner: Scanner;
  remediation: RemediationConfig;
  dataRootOverride: string | null;
  now?: () => Date;
}): JobEnv {
  const containerd = options.scanner.containerdJobTarget();
  return {
    client: options.client,
    remediation: options.remediation,
    containerd,
    measure: (signal) => options.scanner.scanOnce(signal),
    async dataRoot(signal) {
      if (containerd) {
        // containerd's root as the last scan found it; a fresh process measures free space on /.
        const root = options.scanner.containerdRoot ?? '/';
        return { enginePath: root, localPath: root };
      }
      const info = await options.client.info(signal);
      return { enginePath: info.DockerRootDir, localPath: options.dataRootOverride ?? info.DockerRootDir };
    },
    now: options.now ?? (() => new Date()),
  };
}
