import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { duAllocated, sh, tempDir } from './helpers.js';

export const CONTAINERD_BIN = '/usr/bin/containerd';
export const CTR_BIN = '/usr/bin/ctr';

export interface TestContainerd {
  dir: string;
  socket: string;
  root: string;
  /** `ctr` against this containerd in `namespace`. */
  ctr(namespace: string, args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A private containerd (Debian's package) with its own root, state and socket in a temporary
 * directory; the CRI plugin is disabled (nothing here needs it). Missing binaries fail the
 * test run instead of skipping it: a silently skipped suite looks like a passing one.
 */
export async function startContainerd(options: { root?: string } = {}): Promise<TestContainerd> {
  for (const bin of [CONTAINERD_BIN, CTR_BIN]) {
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} is missing: install Debian's containerd package (apt-get install containerd) to run these tests`,
      );
    }
  }
  const dir = await tempDir('containerd');
  const root = options.root ?? path.join(dir, 'root');
  const socket = path.join(dir, 'containerd.sock');
  await writeFile(
    path.join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${root}"`,
      `state = "${path.join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.opt"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      // No background garbage collection: the tests measure what a collection would return
      // before one runs; collections happen only when a test asks (image delete with sync).
      '[plugins]',
      '  [plugins."io.containerd.gc.v1.scheduler"]',
      '    mutation_threshold = 1000000',
      '    deletion_threshold = 0',
      '    startup_delay = "24h"',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(CONTAINERD_BIN, ['--config', path.join(dir, 'config.toml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-8000);
  });
  const ctr = (namespace: string, args: string[]) => sh(CTR_BIN, ['-a', socket, '-n', namespace, ...args]);
  for (let i = 0; ; i += 1) {
    if (child.exitCode !== null) throw new Error(`containerd exited (${child.exitCode}):\n${log}`);
    if (existsSync(socket)) {
      try {
        await ctr('default', ['version']);
        break;
      } catch {
        // not serving yet
      }
    }
    if (i > 100) throw new Error(`containerd did not start within 20 s:\n${log}`);
    await sleep(200);
  }
  return {
    dir,
    socket,
    root,
    ctr,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(10_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const contentDir = (c: TestContainerd) =>
  path.join(c.root, 'io.containerd.content.v1.content', 'blobs', 'sha256');
export const snapshotsDir = (c: TestContainerd) =>
  path.join(c.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots');

/** st_size of every blob file, by digest: the content store as the filesystem has it. */
export async function blobSizes(c: TestContainerd): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const name of await readdir(contentDir(c))) {
    out.set(`sha256:${name}`, (await stat(path.join(contentDir(c), name))).size);
  }
  return out;
}

export async function readBlobJson<T>(c: TestContainerd, digest: string): Promise<T> {
  return JSON.parse(await readFile(path.join(contentDir(c), digest.replace(/^sha256:/, '')), 'utf8')) as T;
}

/** `du -s -B1` of every snapshot's fs directory, by snapshot directory number. */
export async function snapshotDu(c: TestContainerd): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const n of await readdir(snapshotsDir(c))) {
    out.set(n, await duAllocated(path.join(snapshotsDir(c), n, 'fs')));
  }
  return out;
}

/** An active snapshot's overlay directories, from `ctr snapshots mounts`. */
export async function snapshotDirs(
  c: TestContainerd,
  namespace: string,
  key: string,
): Promise<{ upper: string | null; lower: string[] }> {
  const out = await c.ctr(namespace, ['snapshots', 'mounts', '/mnt', key]);
  const upper = /upperdir=([^,\s]+)/.exec(out)?.[1] ?? null;
  const lower = /lowerdir=([^,\s]+)/.exec(out)?.[1]?.split(':') ?? [];
  if (!upper && lower.length === 0) {
    // A snapshot on a single layer is a bind mount of that layer's directory.
    const bind = /mount -t bind (\S+)/.exec(out)?.[1];
    if (bind) return { upper: null, lower: [bind] };
  }
  return { upper, lower };
}
