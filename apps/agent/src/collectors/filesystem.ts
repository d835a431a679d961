import { realpath, statfs } from 'node:fs/promises';
import type { Filesystem } from '@ballast/shared';
import { findMount, readMountInfo } from '../fs/mountinfo.js';
import type { ScanContext } from './context.js';
import type { Collector } from './registry.js';

/** Capacity of the filesystem holding the data root, as `df` computes it from statfs. */
export const filesystemCollector: Collector<ScanContext> = {
  name: 'filesystem',
  async collect(ctx) {
    const root = ctx.facts.engine?.root;
    if (!root) {
      ctx.facts.filesystem = null;
      return;
    }
    ctx.facts.filesystem = await measureFilesystem(root.localPath, ctx.mountInfoPath);
  },
};

/** statfs and the mount of the filesystem holding `localPath`. */
export async function measureFilesystem(localPath: string, mountInfoPath: string): Promise<Filesystem> {
  const target = await realpath(localPath);
  const st = await statfs(target);
  const mount = findMount(await readMountInfo(mountInfoPath).catch(() => []), target);
  return {
    path: localPath,
    mountPoint: mount?.mountPoint ?? null,
    fsType: mount?.fsType ?? null,
    device: mount?.source ?? null,
    sizeBytes: st.blocks * st.bsize,
    // df's Used is blocks - bfree (root-reserved blocks count as neither used nor available).
    usedBytes: (st.blocks - st.bfree) * st.bsize,
    freeBytes: st.bavail * st.bsize,
    inodesTotal: st.files,
    inodesFree: st.ffree,
  };
}
