import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerRuleBytes, duAllocated, duKiB, sh, tempDir } from '../../test/helpers.js';
import { buildVariedTree } from '../../test/trees.js';
import { measureTree, measureTrees } from './walk.js';
import { WalkPool, walkPool } from './walk-pool.js';

describe('measureTree', () => {
  let root: string;
  let outside: string;

  beforeAll(async () => {
    outside = await tempDir('walk-outside');
    root = await tempDir('walk');
    await buildVariedTree(root, outside);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('allocated bytes equal du -s -B1 and du -sk (root directory included, hard links once)', async () => {
    const usage = await measureTree(root);
    expect(usage.allocatedBytes).toBe(await duAllocated(root));
    expect(usage.allocatedBytes).toBe(await duKiB(root));
  });

  it("apparent bytes follow Docker's rule: non-directories with size > 0, each inode once", async () => {
    const usage = await measureTree(root);
    expect(usage.apparentBytes).toBe(await dockerRuleBytes(root));
    // du -sb adds directory sizes to the same set of files and links.
    const dirBytes = Number(
      await sh('sh', [
        '-c',
        'find "$1" -type d -printf "%s\\n" | awk \'{ s += $1 } END { printf "%d", s }\'',
        'sh',
        root,
      ]),
    );
    const duApparent = Number((await sh('du', ['-sb', root])).split('\t')[0]);
    expect(usage.apparentBytes + dirBytes).toBe(duApparent);
  });

  it('reports sparse files at full apparent size but only their allocated blocks', async () => {
    const usage = await measureTree(path.join(root, 'sparse.img'));
    expect(usage.apparentBytes).toBe(10 * 1024 * 1024);
    expect(usage.allocatedBytes).toBeLessThan(64 * 1024);
    expect(usage.allocatedBytes).toBe(await duAllocated(path.join(root, 'sparse.img')));
  });

  it('leaves excluded subtrees out entirely', async () => {
    const all = await measureTree(root);
    const sub = await measureTree(path.join(root, 'a/b/c'));
    const without = await measureTree(root, { exclude: new Set([path.join(root, 'a/b/c')]) });
    expect(without.allocatedBytes).toBe(all.allocatedBytes - sub.allocatedBytes);
    expect(without.apparentBytes).toBe(all.apparentBytes - sub.apparentBytes);
    expect(without.entries).toBe(all.entries - sub.entries);
  });

  it('counts the same totals whatever the slice between yields', async () => {
    const one = await measureTree(root, { sliceEntries: 1 });
    const many = await measureTree(root, { sliceEntries: 100_000 });
    expect(many).toEqual(one);
  });

  it('walks on the shared pool (the native walker) and on this thread to the same totals', async () => {
    expect(walkPool()?.walker).toBe('native');
    const inThread = await measureTree(root, { inThread: true });
    expect(await measureTree(root)).toEqual(inThread);
    expect(inThread.allocatedBytes).toBe(await duAllocated(root));
  });

  it('prestarts every worker, walks on them with the JavaScript walk, and lets them exit when no job comes', async () => {
    const pool = new WalkPool(2);
    pool.prestart();
    expect(pool.started).toBe(2);
    const inThread = await measureTree(root, { inThread: true });
    const [a, b] = await Promise.all([
      pool.run([root], { oneFileSystem: false, exclude: null, sliceEntries: 2_000 }),
      pool.run([root], { oneFileSystem: false, exclude: null, sliceEntries: 2_000 }),
    ]);
    expect(a).toEqual([inThread]);
    expect(b).toEqual([inThread]);
    expect(pool.started).toBe(2);
    await expect.poll(() => pool.started, { timeout: 10_000, interval: 100 }).toBe(0);
  });

  it('measures several roots in one job, each with its own result or error', async () => {
    const [a, missing, c] = await measureTrees([path.join(root, 'a'), path.join(root, 'nope'), root]);
    expect(a).toEqual(await measureTree(path.join(root, 'a'), { inThread: true }));
    expect(missing).toBeInstanceOf(Error);
    expect(missing).toMatchObject({ code: 'ENOENT' });
    expect((c as { allocatedBytes: number }).allocatedBytes).toBe(await duAllocated(root));
  });

  it('fails on a missing root rather than reporting zero, on either thread', async () => {
    await expect(measureTree(path.join(root, 'does-not-exist'), { inThread: true })).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await expect(measureTree(path.join(root, 'does-not-exist'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop now'));
    await expect(measureTree(root, { signal: controller.signal })).rejects.toThrow('stop now');
    await expect(measureTree(root, { signal: controller.signal, inThread: true })).rejects.toThrow('stop now');
  });

  it('stops a walk aborted while it runs on a worker, and the pool keeps working', async () => {
    const pool = new WalkPool(1);
    const controller = new AbortController();
    const walking = pool.run(['/usr'], { oneFileSystem: false, exclude: null, sliceEntries: 1 }, controller.signal);
    const next = pool.run([root], { oneFileSystem: false, exclude: null, sliceEntries: 2_000 });
    controller.abort(new Error('stop mid-walk'));
    await expect(walking).rejects.toThrow('stop mid-walk');
    expect(await next).toEqual([await measureTree(root, { inThread: true })]);
  });
});
