import type { Stats } from 'node:fs';
import { type Dir, lstatSync, opendirSync } from 'node:fs';
import path from 'node:path';
import { setImmediate } from 'node:timers/promises';

export interface TreeUsage {
  /**
   * Docker's rule (moby `pkg/directory.Size`, what `SizeRw` and volume `UsageData.Size` are):
   * Σ lstat size of every non-directory entry with size > 0, a hard-linked inode once.
   */
  apparentBytes: number;
  /** du's rule: Σ st_blocks × 512 of every entry, directories and the root included, a hard-linked inode once. */
  allocatedBytes: number;
  entries: number;
}

export interface WalkOptions {
  /** Like `du -x`: entries on another device (a mount) are neither counted nor entered. */
  oneFileSystem?: boolean;
  /** Absolute paths left out entirely, with everything below them. */
  exclude?: ReadonlySet<string>;
  signal?: AbortSignal;
  /** Entries handled per synchronous slice before yielding to the event loop. */
  sliceEntries?: number;
}

function isVanished(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Measures a directory tree without following symlinks. Entries that vanish mid-walk are
 * skipped (as Docker does); a missing root and any other error fail the walk, because a
 * partial sum would look exact.
 *
 * Synchronous readdir/lstat in slices, yielding to the event loop between slices: each
 * promise-based lstat costs a threadpool round trip: walking 140,000 files in writable
 * layers took 5.0 s that way and 1.3 s synchronously (bench/scan.ts). A slice of 2,000
 * entries blocks the loop for ~20 ms, short enough for heartbeats.
 */
export async function measureTree(root: string, options: WalkOptions = {}): Promise<TreeUsage> {
  const { oneFileSystem = false, exclude, signal, sliceEntries = 2_000 } = options;
  const rootPath = path.resolve(root);
  const rootStat = lstatSync(rootPath);
  const usage: TreeUsage = { apparentBytes: 0, allocatedBytes: 0, entries: 0 };
  // Only inodes with nlink > 1 can be met twice, so only those are remembered. Inode numbers
  // stay below 2^53 on ext4/xfs/btrfs, so plain number stats are exact and cheaper than bigint.
  const linked = new Set<string>();

  const account = (st: Stats): void => {
    usage.entries += 1;
    const dir = st.isDirectory();
    if (!dir && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      if (linked.has(key)) return;
      linked.add(key);
    }
    usage.allocatedBytes += st.blocks * 512;
    if (!dir && st.size > 0) usage.apparentBytes += st.size;
  };

  account(rootStat);
  if (!rootStat.isDirectory()) return usage;

  const pending: string[] = [rootPath];
  let budget = sliceEntries;
  while (pending.length > 0) {
    const dir = pending.pop() as string;
    let handle: Dir;
    try {
      handle = opendirSync(dir, { bufferSize: 256 });
    } catch (err) {
      if (isVanished(err)) continue;
      throw err;
    }
    try {
      for (let entry = handle.readSync(); entry !== null; entry = handle.readSync()) {
        const child = path.join(dir, entry.name);
        if (exclude?.has(child)) continue;
        let st: Stats | undefined;
        try {
          st = lstatSync(child, { throwIfNoEntry: false });
        } catch (err) {
          if (!isVanished(err)) throw err;
        }
        if (st && !(oneFileSystem && st.dev !== rootStat.dev)) {
          account(st);
          if (st.isDirectory()) pending.push(child);
        }
        budget -= 1;
        if (budget <= 0) {
          budget = sliceEntries;
          await setImmediate();
          if (signal?.aborted) throw signal.reason ?? new Error('walk aborted');
        }
      }
    } finally {
      handle.closeSync();
    }
    if (signal?.aborted) throw signal.reason ?? new Error('walk aborted');
  }
  return usage;
}
