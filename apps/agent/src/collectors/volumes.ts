import type { ScanContext } from './context.js';
import type { Collector } from './registry.js';

const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/**
 * Volumes from `/volumes`. Engines before 23.0 never label anonymous volumes, so a 64-hex
 * name (what Docker generates for `-v /path`) also marks one. `buildx_buildkit_<builder>_state`
 * volumes hold a docker-container builder's whole BuildKit state (its build cache).
 */
export const volumesCollector: Collector<ScanContext> = {
  name: 'volumes',
  async collect(ctx) {
    ctx.facts.volumes = [];
    const engine = ctx.facts.engine;
    if (!engine) return;
    if (ctx.reuse) {
      ctx.facts.volumes = ctx.reuse.volumes;
      return;
    }
    const list = await ctx.client.listVolumes(ctx.signal);
    ctx.facts.volumes = [...list]
      // Code-unit order: localeCompare would map ICU's collation data (megabytes of RSS) for it.
      .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))
      .map((v) => ({
        name: v.Name,
        driver: v.Driver,
        labels: v.Labels,
        anonymous: ANONYMOUS_LABEL in v.Labels || /^[0-9a-f]{64}$/.test(v.Name),
        buildkitState: /^buildx_buildkit_.*_state$/.test(v.Name),
        mountpoint: engine.root.local(v.Mountpoint),
        // Docker sizes only local volumes without options: with options (nfs, tmpfs, bind) the
        // data lives elsewhere and walking it could hang on a remote filesystem.
        walkable: v.Driver === 'local' && Object.keys(v.Options).length === 0,
      }));
  },
};
