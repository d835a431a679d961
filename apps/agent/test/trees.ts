import { link, mkdir, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sh } from './helpers.js';

/**
 * What a walk must get right, under `root`: nested and empty directories, an empty file, hard
 * links met three times inside the tree and one whose other name is in `outside`, a sparse
 * file (10 MiB apparent, one 4 KiB block written), a symlink into the tree and a dangling one.
 */
export async function buildVariedTree(root: string, outside: string): Promise<void> {
  await mkdir(path.join(root, 'a/b/c'), { recursive: true });
  await mkdir(path.join(root, 'empty-dir'));
  await writeFile(path.join(root, 'small.txt'), 'hello\n');
  await writeFile(path.join(root, 'a/b/c/deep.bin'), Buffer.alloc(70_000, 7));
  await writeFile(path.join(root, 'empty-file'), '');
  await writeFile(path.join(root, 'a/linked.bin'), Buffer.alloc(12_345, 1));
  await link(path.join(root, 'a/linked.bin'), path.join(root, 'a/b/linked-again.bin'));
  await link(path.join(root, 'a/linked.bin'), path.join(root, 'linked-third.bin'));
  await writeFile(path.join(outside, 'shared.bin'), Buffer.alloc(9_000, 2));
  await link(path.join(outside, 'shared.bin'), path.join(root, 'a/from-outside.bin'));
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
}
