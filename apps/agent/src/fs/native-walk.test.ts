import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerRuleBytes, duAllocated, sh, tempDir } from '../../test/helpers.js';
import { buildVariedTree } from '../../test/trees.js';
import { builtAddonPath, type NativeTreeResult, nativeReadFiles, nativeWalk, nativeWalkStatus } from './native-walk.js';
import { readSmallFile } from './small-file.js';
import { measureTree, type TreeUsage } from './walk.js';
import { WalkPool, walkPool } from './walk-pool.js';

const options = { oneFileSystem: false, exclude: null, sliceEntries: 2_000 };

/** The JavaScript walk on this thread: the reference the native walker must match. */
function reference(root: string, exclude?: ReadonlySet<string>): Promise<TreeUsage> {
  return measureTree(root, { inThread: true, ...(exclude ? { exclude } : {}) });
}

function callNative(roots: string[], exclude: string[], abort: Int32Array | null) {
  const native = nativeWalk();
  if (!native) throw new Error('native walker not loaded');
  return new Promise<{ aborted: boolean; results: NativeTreeResult[] | null }>((resolve) =>
    native.walk(roots, false, exclude, abort, (aborted, results) => resolve({ aborted, results })),
  );
}

describe('the native walker', () => {
  let root: string;
  let outside: string;
  let deep: string;

  beforeAll(async () => {
    root = await tempDir('native-walk');
    outside = await tempDir('native-walk-outside');
    await buildVariedTree(root, outside);
    await symlink('/usr', path.join(root, 'link-to-usr'));
    await sh('mkfifo', [path.join(root, 'a/fifo')]);
    // More names than one 32 KiB getdents64 buffer holds: the directory is read in several calls.
    await mkdir(path.join(root, 'many'));
    const long = 'n'.repeat(120);
    await Promise.all(
      Array.from({ length: 1_500 }, (_, i) => writeFile(path.join(root, 'many', `${long}-${i}`), String(i))),
    );
    // Deeper than any sensible limit on open descriptors per walk.
    deep = path.join(root, ...Array.from({ length: 300 }, () => 'd'));
    await mkdir(deep, { recursive: true });
    await writeFile(path.join(deep, 'bottom.txt'), 'bottom\n');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('is built and loaded from the checkout, and is what the shared pool walks with', () => {
    expect(nativeWalkStatus()).toEqual({ loaded: true, from: builtAddonPath() });
    expect(walkPool()?.walker).toBe('native');
  });

  it('needs nothing newer than glibc 2.17 from the C library, so it loads on older hosts too', async () => {
    const versions = [...(await sh('objdump', ['-T', builtAddonPath()])).matchAll(/GLIBC_(\d+)\.(\d+)/g)].map(
      ([, major, minor]) => [Number(major), Number(minor)] as const,
    );
    expect(versions.length).toBeGreaterThan(0);
    for (const [major, minor] of versions) expect(major * 1000 + minor).toBeLessThanOrEqual(2017);
  });

  it('gives the same figures as the JavaScript walk, du and the Docker rule, for trees, files and links', async () => {
    const pool = new WalkPool(2, nativeWalk());
    const roots = [
      root,
      path.join(root, 'a'),
      path.join(root, 'many'),
      path.join(root, 'sparse.img'),
      path.join(root, 'empty-dir'),
      path.join(root, 'link-to-usr'),
      path.join(root, 'a/fifo'),
    ];
    const results = await pool.run(roots, options);
    for (const [i, r] of roots.entries()) expect(results[i]).toEqual(await reference(r));
    const [whole] = results as TreeUsage[];
    expect(whole?.allocatedBytes).toBe(await duAllocated(root));
    expect(whole?.apparentBytes).toBe(await dockerRuleBytes(root));
    // The symlink root is the link itself, never /usr.
    expect((results[5] as TreeUsage).entries).toBe(1);
  });

  it('leaves excluded subtrees and files out, as the JavaScript walk does', async () => {
    const exclude = new Set([path.join(root, 'a/b'), path.join(root, 'small.txt'), path.join(root, 'many')]);
    const [result] = await new WalkPool(1, nativeWalk()).run([root], { ...options, exclude: [...exclude] });
    const expected = await reference(root, exclude);
    expect(result).toEqual(expected);
    expect(expected.entries).toBeLessThan((await reference(root)).entries - 1_500);
  });

  it('counts names that are not UTF-8, as du does, and so does the JavaScript walk', async () => {
    const dir = await tempDir('native-walk-bytes');
    try {
      const bad = (name: Buffer) => Buffer.concat([Buffer.from(`${dir}/`), name]);
      const badDir = bad(Buffer.from([0x64, 0xff, 0x64]));
      await writeFile(bad(Buffer.from([0x6e, 0xff, 0xfe, 0x6e])), 'x'.repeat(5_000));
      await mkdir(badDir);
      await writeFile(Buffer.concat([badDir, Buffer.from('/inside')]), 'y'.repeat(3_000));
      await writeFile(Buffer.concat([badDir, Buffer.from([0x2f, 0xc3])]), 'z'.repeat(1_000));
      await writeFile(path.join(dir, 'plain'), 'p');
      const [result] = await new WalkPool(1, nativeWalk()).run([dir], options);
      expect(result).toMatchObject({ entries: 6, apparentBytes: 9_001 });
      expect((result as TreeUsage).allocatedBytes).toBe(await duAllocated(dir));
      expect(await reference(dir)).toEqual(result);
      expect((await new WalkPool(1).run([dir], options))[0]).toEqual(result);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('walks a tree 300 directories deep', async () => {
    const top = path.join(root, 'd');
    const [result] = await new WalkPool(1, nativeWalk()).run([top], options);
    expect(result).toMatchObject({ entries: 301, apparentBytes: 7 });
    expect((result as TreeUsage).allocatedBytes).toBe(await duAllocated(top));
  });

  it('walks a directory of more subdirectories than it holds open at once, a mount among them, and leaks no descriptor', async () => {
    const wide = await tempDir('native-walk-wide');
    const mounted = path.join(wide, 'sub-7');
    const openFds = async () => (await readdir('/proc/self/fd')).length;
    try {
      // More subdirectories than the walker opens ahead of walking them (64): the rest are
      // opened by path when their turn comes. One of each kind of entry per subdirectory.
      for (let i = 0; i < 150; i += 1) {
        const sub = path.join(wide, `sub-${i}`);
        await mkdir(path.join(sub, 'inner'), { recursive: true });
        await writeFile(path.join(sub, 'file'), 'f'.repeat(i * 97));
        await writeFile(path.join(sub, 'inner', 'file'), 'g'.repeat(i * 31));
        await symlink(path.join(wide, 'sub-0'), path.join(sub, 'link-to-dir'));
      }
      await sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'ballast-walk-test', mounted]);
      await writeFile(path.join(mounted, 'on-tmpfs'), 'x'.repeat(10_000));
      const before = await openFds();
      const pool = new WalkPool(1, nativeWalk());
      const [within] = await pool.run([wide], { ...options, oneFileSystem: true });
      const [across] = await pool.run([wide], options);
      expect(await openFds()).toBe(before);
      expect(within).toEqual(await measureTree(wide, { inThread: true, oneFileSystem: true }));
      expect(across).toEqual(await reference(wide));
      // One file system: the mount point and all below it are left out, as `du -x` does.
      expect((within as TreeUsage).allocatedBytes).toBe(await duAllocated(wide, true));
      // The tmpfs hides sub-7's own four entries; across, it adds its root and its one file.
      expect((within as TreeUsage).entries).toBe(1 + 149 * 5);
      expect((across as TreeUsage).entries - (within as TreeUsage).entries).toBe(2);
      expect((across as TreeUsage).apparentBytes - (within as TreeUsage).apparentBytes).toBe(10_000);
    } finally {
      await sh('umount', [mounted]).catch(() => undefined);
      await rm(wide, { recursive: true, force: true });
    }
  });

  it("reports a missing root in Node's own shape, and the other roots still", async () => {
    const missing = path.join(root, 'nope');
    const [a, b] = await new WalkPool(1, nativeWalk()).run([missing, path.join(root, 'a')], options);
    expect(a).toBeInstanceOf(Error);
    expect(a).toMatchObject({ code: 'ENOENT', message: `ENOENT: no such file or directory, lstat '${missing}'` });
    expect(b).toEqual(await reference(path.join(root, 'a')));
  });

  it('walks nothing once its abort flag is set, and everything while it is clear', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(flag, 0, 1);
    expect(await callNative([root, path.join(root, 'a')], [], flag)).toEqual({ aborted: true, results: null });
    Atomics.store(flag, 0, 0);
    const clear = await callNative([path.join(root, 'a')], [], flag);
    expect(clear.aborted).toBe(false);
    expect(clear.results).toEqual([await reference(path.join(root, 'a'))]);
  });

  it('rejects an aborted walk with its reason and keeps walking the next jobs', async () => {
    const pool = new WalkPool(1, nativeWalk());
    const controller = new AbortController();
    const walking = pool.run(['/usr'], options, controller.signal);
    const next = pool.run([root], options);
    controller.abort(new Error('stop mid-walk'));
    await expect(walking).rejects.toThrow('stop mid-walk');
    expect(await next).toEqual([await reference(root)]);
  });

  it('refuses arguments of the wrong shape with a TypeError instead of walking', () => {
    const native = nativeWalk() as unknown as { walk: (...args: unknown[]) => void };
    expect(() => native.walk('/', false, [], null, () => {})).toThrow(TypeError);
    expect(() => native.walk([`${root}\0x`], false, [], null, () => {})).toThrow(TypeError);
    expect(() => native.walk([root], false, [], new Uint8Array(4), () => {})).toThrow(TypeError);
  });
});

describe('the native file reader', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir('native-read');
    await mkdir(path.join(dir, 'sub'));
    await writeFile(path.join(dir, 'sub/id'), 'sha256:abc\n');
    await writeFile(path.join(dir, 'empty'), '');
    await writeFile(path.join(dir, 'large'), 'x'.repeat(70_000));
    await writeFile(path.join(dir, 'latin1'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    await writeFile(path.join(dir, 'huge'), Buffer.alloc((16 << 20) + 1, 0x61));
    await sh('mkfifo', [path.join(dir, 'fifo')]);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const fdCount = async () => (await readdir('/proc/self/fd')).length;

  it('reads each file as readFileSync does, a missing one as null, in the order asked, over several calls, as readSmallFile does', async () => {
    const names = ['sub/id', 'empty', 'nope', 'large', 'latin1', 'sub/nope', 'nope/id'];
    const before = await fdCount();
    for (const parts of [1, 2, 3, 10]) {
      expect(await nativeReadFiles(dir, names, parts)).toEqual(
        names.map((n) => {
          try {
            return readFileSync(path.join(dir, n), 'utf8');
          } catch {
            return null;
          }
        }),
      );
    }
    expect(names.map((n) => readSmallFile(path.join(dir, n)))).toEqual(await nativeReadFiles(dir, names));
    expect(await nativeReadFiles(dir, [])).toEqual([]);
    expect(await fdCount()).toBe(before);
  });

  it("fails the call on any error but a missing file, in Node's own shape", async () => {
    await expect(nativeReadFiles(dir, ['sub/id', 'sub/id/x'])).rejects.toMatchObject({
      code: 'ENOTDIR',
      message: `ENOTDIR: not a directory, open '${dir}/sub/id/x'`,
    });
    // A directory, FIFO or device where a file should be: refused without blocking or reading on.
    for (const name of ['sub', 'fifo']) {
      await expect(nativeReadFiles(dir, [name])).rejects.toMatchObject({
        code: 'EINVAL',
        message: `EINVAL: not a regular file, read '${dir}/${name}'`,
      });
      expect(() => readSmallFile(path.join(dir, name))).toThrow(`EINVAL: not a regular file, read '${dir}/${name}'`);
    }
    await expect(nativeReadFiles(path.join(dir, 'missing'), ['a'])).rejects.toMatchObject({
      code: 'ENOENT',
      message: `ENOENT: no such file or directory, open '${dir}/missing'`,
    });
    // Metadata and image configs are small: a file past 16 MiB is not what the caller meant to read.
    await expect(nativeReadFiles(dir, ['huge'])).rejects.toMatchObject({ code: 'EFBIG' });
  });

  it('refuses absolute, empty or NUL-bearing names with a TypeError instead of reading', () => {
    const native = nativeWalk() as unknown as { readFiles: (...args: unknown[]) => void };
    expect(() => native.readFiles(dir, ['/etc/passwd'], () => {})).toThrow(TypeError);
    expect(() => native.readFiles(dir, [''], () => {})).toThrow(TypeError);
    expect(() => native.readFiles(dir, ['a\0b'], () => {})).toThrow(TypeError);
    expect(() => native.readFiles(dir, 'sub/id', () => {})).toThrow(TypeError);
  });
});
