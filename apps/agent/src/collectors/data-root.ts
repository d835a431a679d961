import path from 'node:path';
import { mountPointsBelow, readMountInfo } from '../fs/mountinfo.js';
import { measureTree } from '../fs/walk.js';
import type { Collector } from './registry.js';
import { layersWalkable, type SlowContext } from './usage.js';

/**
 * unattributedBytes: allocated bytes under the data root that no reported figure explains.
 *
 *   du -x <data root>  (allocated, not crossing mount points: running containers' merged/,
 *                       their shm and any mounted volume are skipped)
 *   minus every attributed part: layer diff dirs, container upper dirs and their `-init`
 *   layers (Docker's /etc/hosts stubs; a few KiB each, counted as container storage though no
 *   figure shows them), log files, and the data of local volumes.
 *
 * It is computed by walking the data root with those parts left out, not by subtracting
 * separately timed walks, so a live filesystem cannot make it drift or go negative. What
 * remains is real disk: overlay2 bookkeeping (work/, link, lower, l/), BuildKit cache
 * snapshots that are not image layers and BuildKit's databases, image metadata, container
 * config files, and directories nothing references any more (leaks).
 */
export const dataRootCollector: Collector<SlowContext> = {
  name: 'data-root',
  async collect({ facts, layersRead, results, mountInfoPath, signal }) {
    results.unattributedBytes = null;
    await layersRead;
    const { root } = facts.engine;
    if (!layersWalkable(facts)) return;
    const exclude = new Set<string>();
    // One string per layer (thousands each slow pass), not path.join's intermediate ones.
    const overlay = root.join('overlay2');
    for (const layer of facts.layers.values()) {
      if (layer.cacheId) exclude.add(`${overlay}/${layer.cacheId}/diff`);
    }
    for (const c of facts.containers) {
      if (c.upperDir) {
        exclude.add(c.upperDir);
        exclude.add(path.join(`${path.dirname(c.upperDir)}-init`, 'diff'));
      }
      for (const f of c.logFiles) exclude.add(f.path);
    }
    for (const v of facts.volumes) if (v.walkable) exclude.add(v.mountpoint);
    // Same-device bind mounts are mount points too, though du -x alone would enter them.
    const mounts = await readMountInfo(mountInfoPath).catch(() => []);
    for (const m of mountPointsBelow(mounts, root.localPath)) exclude.add(m);
    const usage = await measureTree(root.localPath, { oneFileSystem: true, exclude, signal, priority: 2 });
    results.unattributedBytes = usage.allocatedBytes;
  },
};
