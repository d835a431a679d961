import { opendir, realpath } from 'node:fs/promises';
import type { Engine, ImageStore } from '@ballast/shared';
import { dockerUsesContainerdStore } from '../containerd/select.js';
import { errorMessage } from '../log.js';
import { DataRoot, type ScanContext } from './context.js';
import type { Collector } from './registry.js';

/**
 * Engine identity and which image store it uses. Docker 29 installs default to the
 * containerd image store, which reports `driver-type io.containerd.snapshotter.v1` in
 * DriverStatus and has no `image/overlay2` tree: nothing on disk can be read the overlay2 way.
 */
export const engineCollector: Collector<ScanContext> = {
  name: 'engine',
  async collect(ctx) {
    if (ctx.reuse) {
      ctx.facts.engine = ctx.reuse.engine;
      return;
    }
    const version = await ctx.client.negotiate(ctx.signal);
    const info = await ctx.client.info(ctx.signal);
    const imageStore: ImageStore = dockerUsesContainerdStore(info.DriverStatus)
      ? 'containerd'
      : info.Driver === 'overlay2'
        ? 'overlay2'
        : 'other';
    const localRoot = ctx.dataRootOverride ?? info.DockerRootDir;
    // Walk exclusions and mount matching compare real paths: resolve a symlinked --data-root once.
    const root = new DataRoot(info.DockerRootDir, await realpath(localRoot).catch(() => localRoot));

    let layerdbDir: string | null = null;
    let unsupportedReason: string | null = null;
    if (imageStore === 'containerd') {
      unsupportedReason =
        'images are in the containerd image store (snapshotter io.containerd.snapshotter.v1), which has no overlay2 layerdb: layer sizes come from the image history and layer walks are skipped';
    } else {
      const candidate = root.join('image', info.Driver, 'layerdb');
      try {
        // Opening rather than access(2): access checks the real UID and ignores capabilities,
        // so it refuses the installed unit's unprivileged user that CAP_DAC_READ_SEARCH lets read.
        await (await opendir(candidate)).close();
        layerdbDir = candidate;
      } catch (err) {
        unsupportedReason = `cannot read ${candidate} (${errorMessage(err)}): run the agent as root, or point --data-root at the engine's data root; layer sizes come from the image history`;
      }
      if (imageStore === 'other' && !unsupportedReason) {
        unsupportedReason = `storage driver ${info.Driver} is not overlay2: layerdb sizes are read, but layer and writable-layer walks are skipped`;
      }
    }

    const engine: Engine = {
      kind: 'docker',
      version: version.Version,
      apiVersion: version.ApiVersion,
      minApiVersion: version.MinAPIVersion ?? version.ApiVersion,
      negotiatedApiVersion: ctx.client.apiVersion,
      storageDriver: info.Driver,
      dataRoot: info.DockerRootDir,
      imageStore,
      loggingDriver: info.LoggingDriver ?? 'json-file',
      measurable: unsupportedReason === null,
      unsupportedReason,
    };
    ctx.facts.engine = { engine, root, layerdbDir };
  },
};
