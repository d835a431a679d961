import { appendFile, link, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerRuleBytes, duAllocated, sh, tempDir } from '../../test/helpers.js';
import { PodLogsMeter } from './pod-logs.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** `find -type f | wc -l`: regular files, the oracle for the file count. */
async function fileCount(root: string): Promise<number> {
  return (await sh('find', [root, '-type', 'f'])).split('\n').filter(Boolean).length;
}

/** kubelet's layout: `<ns>_<pod>_<uid>/<container>/<restart>.log`, rotated files beside. */
async function podTree(pods: number): Promise<{ root: string; containerDirs: string[] }> {
  const base = await tempDir('pod-logs');
  dirs.push(base);
  const root = path.join(base, 'pods');
  const containerDirs: string[] = [];
  for (let p = 0; p < pods; p += 1) {
    for (const container of ['app', 'sidecar']) {
      const dir = path.join(root, `default_web-${p}_${p}f6c`, container);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, '0.log'), 'x'.repeat(1_000 + p));
      await writeFile(path.join(dir, '0.log.20260101-000000.gz'), Buffer.alloc(700, 7));
      containerDirs.push(dir);
    }
  }
  // A hard link is counted once, as Docker and du count it.
  const first = containerDirs[0] as string;
  await link(path.join(first, '0.log'), path.join(first, '0.log.link'));
  return { root, containerDirs };
}

/**
 * Moves every directory's mtime to one fixed moment in the past, as on a node whose pods have
 * been running a while (fixed: a directory aged twice keeps its mtime).
 */
async function age(root: string): Promise<void> {
  const old = new Date('2026-01-01T00:00:00Z');
  for (const d of (await sh('find', [root, '-type', 'd'])).split('\n').filter(Boolean)) await utimes(d, old, old);
}

async function oracle(root: string) {
  return { bytes: await dockerRuleBytes(root), allocatedBytes: await duAllocated(root), files: await fileCount(root) };
}

describe('pod logs meter', () => {
  it('measures what du and stat measure, and reads no unchanged directory again', async () => {
    const { root, containerDirs } = await podTree(20);
    await age(root);
    const meter = new PodLogsMeter();
    expect(await meter.measure(root)).toEqual(await oracle(root));
    const dirCount = 1 + 20 + 40;
    expect(meter.lastPass.dirsListed).toBe(dirCount);

    // Unchanged tree: every entry stat-ed, no directory read.
    expect(await meter.measure(root)).toEqual(await oracle(root));
    expect(meter.lastPass).toMatchObject({ dirsListed: 0, dirsReused: dirCount });

    // A log grows: its directory does not change, the new size is seen all the same.
    const grown = containerDirs[5] as string;
    await appendFile(path.join(grown, '0.log'), 'y'.repeat(123_456));
    expect(await meter.measure(root)).toEqual(await oracle(root));
    expect(meter.lastPass.dirsListed).toBe(0);

    // kubelet rotates: a new file in one container directory; only that directory is read again.
    await writeFile(path.join(grown, '0.log.20260102-000000.gz'), Buffer.alloc(4_321, 1));
    expect(await meter.measure(root)).toEqual(await oracle(root));
    expect(meter.lastPass.dirsListed).toBe(1);
    // Changed moments ago, so read once more; once old enough, reused again.
    await age(root);
    await meter.measure(root);
    expect(meter.lastPass.dirsListed).toBe(1);

    // A pod is removed: the root is read again, the pod's directories are forgotten.
    await rm(path.join(root, 'default_web-3_3f6c'), { recursive: true });
    expect(await meter.measure(root)).toEqual(await oracle(root));
    expect(meter.lastPass.dirsListed).toBe(1);
    expect(meter.lastPass.dirsReused).toBe(dirCount - 3 - 1);
  });

  it('reads a directory modified moments before again, in case it changed within the timestamp granularity', async () => {
    const { root, containerDirs } = await podTree(2);
    const meter = new PodLogsMeter();
    await meter.measure(root);
    // Just created: no listing is trusted yet.
    await meter.measure(root);
    expect(meter.lastPass.dirsReused).toBe(0);
    await age(root);
    await meter.measure(root);
    await meter.measure(root);
    expect(meter.lastPass.dirsListed).toBe(0);
    // A change leaves a fresh mtime: that directory is read on each pass until its mtime is old enough.
    await writeFile(path.join(containerDirs[0] as string, '1.log'), 'z'.repeat(99));
    await meter.measure(root);
    expect(await meter.measure(root)).toEqual(await oracle(root));
    expect(meter.lastPass.dirsListed).toBe(1);
  });
});
