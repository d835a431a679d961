import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type DockerTestEnv, sh, tempDir } from './helpers.js';

export const BUSYBOX = '/bin/busybox';

export interface BuildSpec {
  tag: string;
  dockerfile: string;
  /** Context files by relative path; `busybox` copies the static busybox binary. */
  files?: Record<string, string | Buffer | { busybox: true }>;
  labels?: Record<string, string>;
  /** BuildKit fills the build cache; the classic builder leaves intermediate parent images. */
  builder?: 'buildkit' | 'classic';
}

/**
 * Builds an image through the raw Engine API (`POST /build` with a tar context), as
 * test/fixtures/make-docker-state.sh does: no buildx plugin, no registry, no network
 * (`networkmode=none`, because the test engines run with `--bridge=none`).
 */
export async function buildImage(env: DockerTestEnv, spec: BuildSpec): Promise<string> {
  const dir = await tempDir('build');
  try {
    await writeFile(path.join(dir, 'Dockerfile'), spec.dockerfile);
    for (const [name, content] of Object.entries(spec.files ?? {})) {
      const file = path.join(dir, name);
      await mkdir(path.dirname(file), { recursive: true });
      if (typeof content === 'string' || Buffer.isBuffer(content)) await writeFile(file, content);
      else await copyFile(BUSYBOX, file);
    }
    const query = new URLSearchParams({
      t: spec.tag,
      networkmode: 'none',
      rm: '1',
      forcerm: '1',
      labels: JSON.stringify(spec.labels ?? {}),
    });
    if ((spec.builder ?? 'buildkit') === 'buildkit') query.set('version', '2');
    const out = await sh('sh', [
      '-c',
      'tar -C "$1" -cf - . | curl -sS --unix-socket "$2" -X POST -H "Content-Type: application/x-tar" --data-binary @- "$3"',
      'sh',
      dir,
      env.socketPath,
      `http://docker/build?${query}`,
    ]);
    // A stream of JSON lines; a refused request is a single `{"message": ...}` instead.
    for (const line of out.split('\n').filter(Boolean)) {
      const m = JSON.parse(line) as { error?: string; message?: string };
      const error = m.error ?? (Object.keys(m).length === 1 ? m.message : undefined);
      if (error) throw new Error(`build of ${spec.tag} failed: ${error}`);
    }
    return (await sh('docker', ['-H', env.host, 'image', 'inspect', '-f', '{{.Id}}', spec.tag])).trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Removes every container (with its anonymous volumes), volume and image carrying `label` (KEY=VALUE). */
export async function removeLabelled(env: DockerTestEnv, label: string): Promise<void> {
  const d = (args: string[]) => sh('docker', ['-H', env.host, ...args]);
  const ids = (out: string) => [...new Set(out.split('\n').filter(Boolean))];
  const containers = ids(await d(['ps', '-aq', '--filter', `label=${label}`]));
  if (containers.length > 0) await d(['rm', '-f', '-v', ...containers]);
  const volumes = ids(await d(['volume', 'ls', '-q', '--filter', `label=${label}`]));
  if (volumes.length > 0) await d(['volume', 'rm', '-f', ...volumes]);
  // A parent cannot go before its children: repeat while each round removes something.
  let before = Number.POSITIVE_INFINITY;
  for (;;) {
    const images = ids(await d(['images', '-aq', '--no-trunc', '--filter', `label=${label}`]));
    if (images.length === 0 || images.length >= before) break;
    before = images.length;
    await d(['rmi', '-f', ...images]).catch(() => '');
  }
}
