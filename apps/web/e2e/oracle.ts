import { execFileSync } from 'node:child_process';

/**
 * Independent measurements of a Docker host, sharing no code with the agent: the Engine
 * API through curl, and coreutils.
 */
export function engineApi<T>(dockerHost: string, apiPath: string): T {
  const socket = dockerHost.replace(/^unix:\/\//, '');
  return JSON.parse(
    execFileSync('curl', ['-sS', '--unix-socket', socket, `http://docker${apiPath}`], { encoding: 'utf8' }),
  );
}

interface SystemDf {
  LayersSize: number;
  Containers: { SizeRw?: number }[];
  Volumes: { UsageData: { Size: number } | null }[];
  BuildCache: { Size: number; Shared: boolean }[] | null;
}

export function dockerSystemDf(dockerHost: string) {
  const df = engineApi<SystemDf>(dockerHost, '/system/df');
  return {
    imagesBytes: df.LayersSize,
    containersBytes: df.Containers.reduce((sum, c) => sum + (c.SizeRw ?? 0), 0),
    volumesBytes: df.Volumes.reduce((sum, v) => sum + Math.max(0, v.UsageData?.Size ?? 0), 0),
    buildCacheBytes: (df.BuildCache ?? []).filter((r) => !r.Shared).reduce((sum, r) => sum + r.Size, 0),
  };
}

export function dataRoot(dockerHost: string): string {
  return engineApi<{ DockerRootDir: string }>(dockerHost, '/info').DockerRootDir;
}

/** Σ st_size of every container log file: json-file with rotated parts, and the local driver. */
export function containerLogBytes(root: string): number {
  const out = execFileSync(
    'find',
    [
      `${root}/containers`,
      '-type',
      'f',
      '(',
      '-name',
      '*-json.log*',
      '-o',
      '-path',
      '*/local-logs/*',
      ')',
      '-printf',
      '%s\\n',
    ],
    { encoding: 'utf8' },
  );
  return out
    .split('\n')
    .filter(Boolean)
    .reduce((sum, line) => sum + Number(line), 0);
}

export function statfs(path: string) {
  const out = execFileSync('df', ['-B1', '--output=size,used,avail', path], { encoding: 'utf8' });
  const [size, used, avail] = (out.trim().split('\n')[1] ?? '').trim().split(/\s+/).map(Number);
  return { sizeBytes: size ?? NaN, usedBytes: used ?? NaN, freeBytes: avail ?? NaN };
}
