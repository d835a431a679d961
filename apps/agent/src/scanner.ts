import type { CollectorReport, HostInfo, Inventory } from '@ballast/shared';
import type { ContentAnalyzer } from './analysis/analyzer.js';
import { buildCacheCollector } from './collectors/build-cache.js';
import { containersCollector } from './collectors/containers.js';
import type { CheapFacts, ScanContext, SlowResults } from './collectors/context.js';
import { dataRootCollector } from './collectors/data-root.js';
import { engineCollector } from './collectors/engine.js';
import { filesystemCollector } from './collectors/filesystem.js';
import { imagesCollector } from './collectors/images.js';
import { layersCollector } from './collectors/layers.js';
import { type Collector, runCollectors, runCollectorsConcurrently } from './collectors/registry.js';
import {
  containerUsageCollector,
  layerUsageCollector,
  type SlowContext,
  volumeUsageCollector,
} from './collectors/usage.js';
import { volumesCollector } from './collectors/volumes.js';
import type { DockerClient } from './docker/client.js';
import { EngineChanges } from './docker/engine-changes.js';
import { type HostPaths, readHostInfo } from './host.js';
import { assembleInventory } from './inventory/assemble.js';
import type { Logger } from './log.js';
import type { StateStore } from './state/store.js';
import { AGENT_VERSION } from './version.js';

/** Every interval: API lists and inspects, statfs, layerdb metadata and log-file stats. */
export const CHEAP_COLLECTORS: readonly Collector<ScanContext>[] = [
  engineCollector,
  filesystemCollector,
  layersCollector,
  containersCollector,
  imagesCollector,
  volumesCollector,
];

/**
 * Slow cadence: directory walks and the build cache. They read only the cheap facts, so they run
 * concurrently, their walks sharing the bounded walk pool (fs/walk-pool.ts).
 */
export const SLOW_COLLECTORS: readonly Collector<SlowContext>[] = [
  layerUsageCollector,
  containerUsageCollector,
  volumeUsageCollector,
  buildCacheCollector,
  dataRootCollector,
];

export interface ScannerOptions {
  client: DockerClient;
  store: StateStore;
  log: Logger;
  hostPaths: HostPaths;
  hostLabels: Record<string, string>;
  dataRootOverride: string | null;
  mountInfoPath: string;
  now?: () => Date;
  /** Duplicate-content and waste analysis, run last in each slow pass; off when absent. */
  analyzer?: ContentAnalyzer | null;
  /**
   * Follow the engine's `/events` so a pass with nothing changed reuses the previous lists
   * and inspects (what `run` does); a one-off scan lists everything.
   */
  watchEngineEvents?: boolean;
}

export interface CheapPass {
  facts: CheapFacts;
  reports: CollectorReport[];
}

export type ReportListener = (report: CollectorReport) => void;

/**
 * Owns the caches between passes: immutable image and layer metadata, walk results, and the
 * last slow pass. Cheap and slow passes never overlap with another pass of the same kind.
 */
export class Scanner {
  private readonly caches: Pick<ScanContext, 'imageCache' | 'layerMetaCache' | 'layerListing'> = {
    imageCache: new Map(),
    layerMetaCache: new Map(),
    layerListing: null,
  };
  private readonly slow: SlowResults;
  private slowReports: CollectorReport[] = [];
  private slowRunning: Promise<void> | null = null;
  private slowCompleted = false;
  private host: HostInfo | null = null;
  private readonly now: () => Date;
  private readonly changes: EngineChanges | null;
  /** The last cheap pass in which every collector succeeded, and the change mark taken before it. */
  private listed: { facts: CheapFacts; mark: number | null } | null = null;

  constructor(private readonly options: ScannerOptions) {
    this.now = options.now ?? (() => new Date());
    this.changes = options.watchEngineEvents ? new EngineChanges(options.client) : null;
    this.slow = {
      layerUsage: new Map(
        Object.entries(options.store.state.layerUsage).map(([chainId, e]) => [
          chainId,
          {
            cacheId: e.cacheId,
            usage: { apparentBytes: e.apparentBytes, allocatedBytes: e.allocatedBytes, entries: e.entries },
          },
        ]),
      ),
      containerUsage: new Map(),
      volumeUsage: new Map(),
      buildCache: null,
      unattributedBytes: null,
    };
  }

  get hasSlowResults(): boolean {
    return this.slowCompleted;
  }

  /**
   * Lists and cheap stats. Throws when the engine cannot be reached: there is no inventory
   * without it. When following engine events and none arrived since the last complete pass,
   * the engine, container, image and volume facts are reused (log files, the layer store and
   * statfs are read again); `relist` forces a complete pass.
   */
  async cheapPass(signal?: AbortSignal, onReport?: ReportListener, relist = false): Promise<CheapPass> {
    const previous = this.listed;
    const reuse = !relist && previous && this.changes?.unchangedSince(previous.mark) === true ? previous.facts : null;
    const mark = this.changes?.mark() ?? null;
    const ctx: ScanContext = {
      client: this.options.client,
      signal,
      dataRootOverride: this.options.dataRootOverride,
      mountInfoPath: this.options.mountInfoPath,
      ...this.caches,
      reuse,
      facts: {},
    };
    const reports = await runCollectors(CHEAP_COLLECTORS, ctx, onReport);
    this.caches.layerListing = ctx.layerListing;
    const f = ctx.facts;
    if (!f.engine) {
      throw new Error(reports.find((r) => r.name === 'engine')?.error ?? 'the engine could not be read');
    }
    const facts: CheapFacts = {
      engine: f.engine,
      filesystem: f.filesystem ?? null,
      layers: f.layers ?? new Map(),
      layerSource: f.layerSource ?? 'none',
      images: f.images ?? [],
      containerParents: f.containerParents ?? new Map(),
      containers: f.containers ?? [],
      volumes: f.volumes ?? [],
    };
    const imagesOk = reports.some((r) => r.name === 'images' && r.ok);
    const containersOk = reports.some((r) => r.name === 'containers' && r.ok);
    this.listed = reports.every((r) => r.ok) ? { facts, mark } : null;
    this.changes?.start();
    if (imagesOk && containersOk) {
      this.options.store.recordImageUse(
        facts.containers.map((c) => ({ imageId: c.imageId, running: c.state === 'running' })),
        new Set(facts.images.map((i) => i.id)),
        this.now(),
      );
    }
    await this.options.store.flush();
    return { facts, reports };
  }

  /** The expensive walks and build cache, one pass at a time; a call during a pass waits for it. */
  slowPass(facts: CheapFacts, signal?: AbortSignal, onReport?: ReportListener): Promise<void> {
    if (this.slowRunning) return this.slowRunning;
    this.slowRunning = (async () => {
      try {
        const ctx: SlowContext = {
          client: this.options.client,
          facts,
          results: this.slow,
          mountInfoPath: this.options.mountInfoPath,
          signal,
        };
        const reports = await runCollectorsConcurrently(SLOW_COLLECTORS, ctx, onReport);
        // The content analysis reads what the walks measured, so it runs after them.
        const analyzer = this.options.analyzer;
        if (analyzer) reports.push(...(await runCollectors([analyzer.collector], ctx, onReport)));
        this.slowReports = reports;
        this.slowCompleted = true;
        this.persistLayerUsage();
        await this.options.store.flush();
      } finally {
        this.slowRunning = null;
      }
    })();
    return this.slowRunning;
  }

  async hostInfo(): Promise<HostInfo> {
    this.host ??= await readHostInfo(this.options.hostPaths, this.options.store, this.options.hostLabels);
    await this.options.store.flush();
    return this.host;
  }

  async inventory(pass: CheapPass): Promise<Inventory> {
    const host = await this.hostInfo();
    const inventory = assembleInventory({
      agentVersion: AGENT_VERSION,
      collectedAt: this.now(),
      host,
      facts: pass.facts,
      slow: this.slow,
      imageLastUsed: this.options.store.state.imageLastUsed,
      collectors: [...pass.reports, ...this.slowReports],
    });
    return this.options.analyzer ? this.options.analyzer.decorate(inventory) : inventory;
  }

  /** Stops following engine events. */
  close(): void {
    this.changes?.stop();
  }

  /** Everything once: what `scan --json` prints. */
  async scanOnce(signal?: AbortSignal, onReport?: ReportListener): Promise<Inventory> {
    const first = await this.cheapPass(signal, onReport);
    await this.slowPass(first.facts, signal, onReport);
    return this.inventory(first);
  }

  private persistLayerUsage(): void {
    const next: Record<string, { cacheId: string; apparentBytes: number; allocatedBytes: number; entries: number }> =
      {};
    for (const [chainId, { cacheId, usage }] of this.slow.layerUsage) next[chainId] = { cacheId, ...usage };
    const before = this.options.store.state.layerUsage;
    if (JSON.stringify(before) !== JSON.stringify(next)) {
      this.options.store.state.layerUsage = next;
      this.options.store.markDirty();
    }
  }
}
