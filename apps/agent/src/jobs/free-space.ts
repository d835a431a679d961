import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';

/**
 * statfs free bytes (f_bavail × f_bsize, what `df` shows as Avail) of the filesystems holding
 * `paths`, each filesystem once: a store split over two mounts frees space on both.
 */
export async function freeBytesOf(paths: readonly string[]): Promise<number> {
  const seen = new Set<number>();
  let free = 0;
  for (const p of paths) {
    const { dev } = await stat(p);
    if (seen.has(dev)) continue;
    seen.add(dev);
    const st = await statfs(p);
    free += st.bavail * st.bsize;
  }
  return free;
}

/** `p`, or its closest existing ancestor: the filesystem a directory not created yet will live on. */
export async function nearestExisting(p: string): Promise<string> {
  let current = path.resolve(p);
  for (;;) {
    try {
      await stat(current);
      return current;
    } catch (err) {
      const parent = path.dirname(current);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw err;
      current = parent;
    }
  }
}
