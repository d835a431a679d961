import { mapLimit } from '../concurrency.js';
import type { ContainerFacts, ScanContext } from './context.js';
import { findLogFiles } from './logs.js';
import type { Collector } from './registry.js';

/** Go's zero time means "never" (a created container has not started or finished). */
export function dockerTime(value: string | null | undefined): string | null {
  if (!value || value.startsWith('0001-01-01')) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/**
 * Containers in every state, each inspected for its log configuration, rw layer and
 * mounts. No `size=1`: that makes dockerd walk every rw layer on each call.
 */
export const containersCollector: Collector<ScanContext> = {
  name: 'containers',
  async collect(ctx) {
    const engine = ctx.facts.engine;
    ctx.facts.containers = [];
    if (!engine) return;
    if (ctx.reuse) {
      // Nothing changed in the engine's view; log files grow and rotate without events.
      ctx.facts.containers = await mapLimit(ctx.reuse.containers, 8, async (c) => ({
        ...c,
        logFiles: await findLogFiles(engine.root.join('containers', c.id), c.id),
      }));
      return;
    }
    const list = await ctx.client.listContainers(ctx.signal);
    const found = await mapLimit(list, 8, async (summary): Promise<ContainerFacts | null> => {
      const inspect = await ctx.client.inspectContainer(summary.Id, ctx.signal);
      if (!inspect) return null;
      const upper = inspect.GraphDriver.Data.UpperDir;
      const logDriver = inspect.HostConfig.LogConfig.Type ?? engine.engine.loggingDriver;
      return {
        id: inspect.Id,
        name: inspect.Name.replace(/^\//, ''),
        image: summary.Image,
        imageId: summary.ImageID || inspect.Image,
        state: inspect.State.Status,
        labels: summary.Labels,
        createdAt: dockerTime(inspect.Created) ?? new Date(summary.Created * 1000).toISOString(),
        startedAt: dockerTime(inspect.State.StartedAt),
        finishedAt: dockerTime(inspect.State.FinishedAt),
        logDriver,
        logOptions: inspect.HostConfig.LogConfig.Config,
        logFiles: await findLogFiles(engine.root.join('containers', inspect.Id), inspect.Id),
        upperDir: upper && inspect.GraphDriver.Name === 'overlay2' ? engine.root.local(upper) : null,
        volumeNames: inspect.Mounts.flatMap((m) => (m.Type === 'volume' && m.Name ? [m.Name] : [])),
      };
    });
    ctx.facts.containers = found.filter((c): c is ContainerFacts => c !== null);
  },
};
