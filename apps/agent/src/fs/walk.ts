import type { Stats } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';

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
  /** Directories read at once; each reads its entries in small parallel batches. */
  concurrency?: number;
}

const STAT_BATCH = 128;

function isVanished(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Measures a directory tree without following symlinks. Entries that vanish mid-walk are
 * skipped (as Docker does); a missing root and any other error fail the walk, because a
 * partial sum would look exact.
 */
export async function measureTree(root: string, options: WalkOptions = {}): Promise<TreeUsage> {
  const { oneFileSystem = false, exclude, signal, concurrency = 2 } = options;
  const rootPath = path.resolve(root);
  const rootStat = await lstat(rootPath);
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

  const readDir = async (dir: string, pending: string[]): Promise<void> => {
    const handle = await opendir(dir, { bufferSize: 256 }).catch((err: unknown) => {
      if (isVanished(err)) return null;
      throw err;
    });
    if (!handle) return;
    let batch: string[] = [];
    const flush = async () => {
      const stats = await Promise.all(
        batch.map((p) =>
          lstat(p).then(
            (st) => ({ p, st }),
            (err: unknown) => {
              if (isVanished(err)) return null;
              throw err;
            },
          ),
        ),
      );
      batch = [];
      for (const item of stats) {
        if (!item) continue;
        if (oneFileSystem && item.st.dev !== rootStat.dev) continue;
        account(item.st);
        if (item.st.isDirectory()) pending.push(item.p);
      }
    };
    for await (const entry of handle) {
      if (signal?.aborted) throw signal.reason ?? new Error('walk aborted');
      const child = path.join(dir, entry.name);
      if (exclude?.has(child)) continue;
      batch.push(child);
      if (batch.length >= STAT_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
  };

  const pending: string[] = [rootPath];
  let running = 0;
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const pump = () => {
      if (failed) return;
      while (running < concurrency && pending.length > 0) {
        const dir = pending.pop();
        if (dir === undefined) break;
        running += 1;
        readDir(dir, pending).then(
          () => {
            running -= 1;
            if (running === 0 && pending.length === 0) resolve();
            else pump();
          },
          (err: unknown) => {
            failed = true;
            reject(err);
          },
        );
      }
    };
    pump();
  });
  return usage;
}
