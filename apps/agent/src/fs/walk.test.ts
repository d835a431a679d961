import { link, mkdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerRuleBytes, duAllocated, duKiB, sh, tempDir } from '../../test/helpers.js';
import { measureTree, measureTrees } from './walk.js';
import { WalkPool, walkPool } from './walk-pool.js';

describe('measureTree', () => {
  let root: string;
  let outside: string;

  beforeAll(async () => {
    outside = await tempDir('walk-outside');
    root = await tempDir('walk');
    await mkdir(path.join(root, 'a/b/c'), { recursive: true });
    await mkdir(path.join(root, 'empty-dir'));
    await writeFile(path.join(root, 'small.txt'), 'hello\n');
    await writeFile(path.join(root, 'a/b/c/deep.bin'), Buffer.alloc(70_000, 7));
    await writeFile(path.join(root, 'empty-file'), '');
    // Hard links inside the tree count once, whichever name is met first.
    await writeFile(path.join(root, 'a/linked.bin'), Buffer.alloc(12_345, 1));
    await link(path.join(root, 'a/linked.bin'), path.join(root, 'a/b/linked-again.bin'));
    await link(path.join(root, 'a/linked.bin'), path.join(root, 'linked-third.bin'));
    // A file whose other link lives outside the tree still counts once inside it.
    await writeFile(path.join(outside, 'shared.bin'), Buffer.alloc(9_000, 2));
    await link(path.join(outside, 'shared.bin'), path.join(root, 'a/from-outside.bin'));
    // Sparse: 10 MiB apparent, one 4 KiB block written at the end.
    await writeFile(path.join(root, 'sparse.img'), '');
    await truncate(path.join(root, 'sparse.img'), 10 * 1024 * 1024);
    await sh('dd', [
      'if=/dev/urandom',
      `of=${path.join(root, 'sparse.img')}`,
      'bs=4096',
      'count=1',
      'seek=2559',
      'conv=notrunc',
    ]);
    await symlink('a/b/c/deep.bin', path.join(root, 'link-to-deep'));
    await symlink('/nonexistent/target/of/some/length', path.join(root, 'dangling-link'));
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

  it('walks on worker threads and on this thread to the same totals', async () => {
    expect(walkPool()).not.toBeNull();
    const inThread = await measureTree(root, { inThread: true });
    expect(await measureTree(root)).toEqual(inThread);
    expect(inThread.allocatedBytes).toBe(await duAllocated(root));
  });

  it('prestarts every worker, walks on them, and lets them exit when no job comes', async () => {
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
    const controller = new AbortController();
    const walking = measureTree('/usr', { signal: controller.signal, sliceEntries: 1 });
    controller.abort(new Error('stop mid-walk'));
    await expect(walking).rejects.toThrow('stop mid-walk');
    expect((await measureTree(root)).allocatedBytes).toBe(await duAllocated(root));
  });
});
