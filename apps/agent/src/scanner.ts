import type { CollectorReport, CollectorSelection, HostInfo, Inventory, K3s } from '@ballast/shared';
import type { ContentAnalyzer } from './analysis/analyzer.js';
import { buildCacheCollector } from './collectors/build-cache.js';
import { containersCollector } from './collectors/containers.js';
import type { CheapFacts, ScanContext, SlowResults } from './collectors/context.js';
import { dataRootCollector } from './collectors/data-root.js';
import { engineCollector } from './collectors/engine.js';
import { filesystemCollector, measureFilesystem } from './collectors/filesystem.js';
import { imagesCollector } from './collectors/images.js';
import { layersCollector } from './collectors/layers.js';
import { type Collector, runCollectors, runCollectorsConcurrently } from './collectors/registry.js';
import {
  containerUsageCollector,
  layerUsageCollector,
  overlayWalkable,
  type SlowContext,
  volumeUsageCollector,
} from './collectors/usage.js';
import { volumesCollector } from './collectors/volumes.js';
import { ContainerdClient } from './containerd/client.js';
import type { ResolvedImage } from './containerd/images.js';
import { DEFAULT_K3S_PATHS, type K3sPaths, k3sPresent, readK3s } from './containerd/k3s.js';
import {
  type ContainerdFacts,
  type ContainerdInventoryParts,
  collectContainerd,
  containerdInventory,
  containerdInventoryParts,
  DEFAULT_SNAPSHOTTER,
  unresolvedImages,
} from './containerd/scan.js';
import type { DockerClient } from './docker/client.js';
import { EngineChanges } from './docker/engine-changes.js';
import { measureTree, type TreeUsage } from './fs/walk.js';
import { walkPool } from './fs/walk-pool.js';
import { type HostPaths, readHostInfo } from './host.js';
import { assembleInventory } from './inventory/assemble.js';
import type { Logger } from './log.js';
import type { StateStore } from './state/store.js';
import { AGENT_VERSION } from './version.js';

/**
 * Every interval: API lists and inspects, statfs, the image store (layerdb and images) and
 * log-file stats. A first scan (`scanOnce`) starts the container and volume walks as soon as
 * those are listed, while the layerdb is read, and the layer and data-root walks once it is,
 * while the images are read.
 */
export const CHEAP_COLLECTORS: readonly Collector<ScanContext>[] = [
  engineCollector,
  filesystemCollector,
  containersCollector,
  volumesCollector,
  layersCollector,
  imagesCollector,
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
  /** Run the Docker collectors (default true). */
  docker?: boolean;
  /** Run the containerd collector too (or alone, with docker false). */
  containerd?: ContainerdSource | null;
  /** Which collectors were chosen and why; reported in the inventory. */
  selection?: CollectorSelection | null;
}

export interface ContainerdSource {
  address: string;
  /** null: moby when Docker uses the containerd image store, else k8s.io. */
  namespace: string | null;
  /** Measure only when Docker keeps its images in containerd (the default socket beside Docker). */
  onlyForDockerStore?: boolean;
  snapshotter?: string;
  /** k3s paths to look at; null never looks (default: the standard k3s paths). */
  k3sPaths?: K3sPaths | null;
}

export interface ContainerdPass {
  namespace: string;
  address: string;
  snapshotter: string;
  k3s: K3s | null;
  facts: ContainerdFacts;
  parts: ContainerdInventoryParts;
  unresolved: string[];
}

export interface CheapPass {
  /** Docker's facts; null when only containerd is measured. */
  facts: CheapFacts | null;
  reports: CollectorReport[];
  containerd: ContainerdPass | null;
}

export type ReportListener = (report: CollectorReport) => void;
/**
 * Called once containers and volumes are listed, before the layerdb is read: `layersRead`
 * settles when `facts.layers` is final (the images collector only reads it from the layerdb).
 */
export type WalkableListener = (facts: CheapFacts, layersRead: Promise<void>) => void;

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
  private ctrd: ContainerdClient | null = null;
  private lastContainerdRoot: string | null = null;
  private lastContainerdFacts: ContainerdFacts | null = null;
  private readonly ctrdWritable = new Map<string, { dir: string; usage: TreeUsage }>();
  private readonly now: () => Date;
  private readonly changes: EngineChanges | null;
  /** The last Docker cheap pass in which every collector succeeded, and the change mark taken before it. */
  private listed: { facts: CheapFacts; mark: number | null } | null = null;

  constructor(private readonly options: ScannerOptions) {
    this.now = options.now ?? (() => new Date());
    this.changes = options.watchEngineEvents && options.docker !== false ? new EngineChanges(options.client) : null;
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
   * Lists and cheap stats. Throws when no engine can be reached: there is no inventory without
   * one. When following Docker's events and none arrived since the last complete pass, the
   * engine, container, image and volume facts are reused (log files, the layer store and
   * statfs are read again); `relist` forces a complete pass.
   */
  async cheapPass(
    signal?: AbortSignal,
    onReport?: ReportListener,
    relist = false,
    onWalkable?: WalkableListener,
  ): Promise<CheapPass> {
    const reports: CollectorReport[] = [];
    let facts: CheapFacts | null = null;
    if (this.options.docker !== false) {
      try {
        facts = await this.dockerCheapPass(reports, signal, onReport, relist, onWalkable);
      } catch (err) {
        if (!this.options.containerd) throw err;
      }
    }
    let containerd: ContainerdPass | null = null;
    const source = this.options.containerd;
    const wanted = source && (!source.onlyForDockerStore || facts?.engine.engine.imageStore === 'containerd');
    if (source && wanted) {
      containerd = await this.containerdPass(source, facts, reports, signal, onReport);
      if (!containerd && !facts) {
        throw new Error(reports.find((r) => r.name === 'containerd')?.error ?? 'containerd could not be read');
      }
    }
    if (!facts && !containerd) {
      throw new Error(reports.find((r) => r.name === 'engine')?.error ?? 'no engine could be read');
    }
    const dockerOk = facts !== null && ['images', 'containers'].every((n) => reports.some((r) => r.name === n && r.ok));
    const refs: Array<{ imageId: string; running: boolean }> = [];
    const present = new Set<string>();
    if (dockerOk && facts) {
      for (const c of facts.containers) refs.push({ imageId: c.imageId, running: c.state === 'running' });
      for (const i of facts.images) present.add(i.id);
    }
    if (containerd) {
      for (const c of containerd.parts.containers) refs.push({ imageId: c.imageId, running: c.state === 'running' });
      for (const i of containerd.parts.images) present.add(i.id);
    }
    if (dockerOk || containerd) this.options.store.recordImageUse(refs, present, this.now());
    await this.options.store.flush();
    return { facts, reports, containerd };
  }

  private async dockerCheapPass(
    reports: CollectorReport[],
    signal?: AbortSignal,
    onReport?: ReportListener,
    relist = false,
    onWalkable?: WalkableListener,
  ): Promise<CheapFacts> {
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
    const layersAt = CHEAP_COLLECTORS.indexOf(layersCollector);
    const imagesAt = CHEAP_COLLECTORS.indexOf(imagesCollector);
    const own = await runCollectors(CHEAP_COLLECTORS.slice(0, layersAt), ctx, onReport);
    const f = ctx.facts;
    const facts: CheapFacts | null = f.engine
      ? {
          engine: f.engine,
          filesystem: f.filesystem ?? null,
          layers: new Map(),
          layerSource: 'none',
          images: [],
          containerParents: new Map(),
          containers: f.containers ?? [],
          volumes: f.volumes ?? [],
        }
      : null;
    let layersRead = () => {};
    const read = new Promise<void>((resolve) => {
      layersRead = resolve;
    });
    try {
      if (facts && onWalkable && overlayWalkable(facts)) onWalkable(facts, read);
      own.push(...(await runCollectors(CHEAP_COLLECTORS.slice(layersAt, imagesAt), ctx, onReport)));
      if (facts) {
        facts.layers = f.layers ?? facts.layers;
        facts.layerSource = f.layerSource ?? facts.layerSource;
        facts.containerParents = f.containerParents ?? facts.containerParents;
      }
    } finally {
      layersRead();
    }
    own.push(...(await runCollectors(CHEAP_COLLECTORS.slice(imagesAt), ctx, onReport)));
    reports.push(...own);
    this.caches.layerListing = ctx.layerListing;
    if (!facts) {
      throw new Error(reports.find((r) => r.name === 'engine')?.error ?? 'the engine could not be read');
    }
    // Without a layerdb, the images collector maps layers from image history.
    facts.images = f.images ?? [];
    facts.layers = f.layers ?? facts.layers;
    facts.layerSource = f.layerSource ?? facts.layerSource;
    this.listed = own.every((r) => r.ok) ? { facts, mark } : null;
    this.changes?.start();
    return facts;
  }

  /**
   * Where image jobs act when containerd is the only engine measured (k3s and Kubernetes
   * nodes); null when Docker is measured (jobs act on Docker there).
   */
  containerdJobTarget(): { client: ContainerdClient; snapshotter: string; k3sPaths: K3sPaths | null } | null {
    const source = this.options.containerd;
    if (!source || this.options.docker !== false) return null;
    const namespace = source.namespace ?? 'k8s.io';
    if (!this.ctrd || this.ctrd.namespace !== namespace) {
      this.ctrd?.close();
      this.ctrd = new ContainerdClient(source.address, namespace);
    }
    const k3sPaths = source.k3sPaths === undefined ? DEFAULT_K3S_PATHS : source.k3sPaths;
    return {
      client: this.ctrd,
      snapshotter: source.snapshotter ?? DEFAULT_SNAPSHOTTER,
      k3sPaths: k3sPaths && k3sPresent(k3sPaths) ? k3sPaths : null,
    };
  }

  /** containerd's root as the last pass found it (statfs target for jobs). */
  get containerdRoot(): string | null {
    return this.lastContainerdRoot;
  }

  private async containerdPass(
    source: ContainerdSource,
    docker: CheapFacts | null,
    reports: CollectorReport[],
    signal?: AbortSignal,
    onReport?: ReportListener,
  ): Promise<ContainerdPass | null> {
    const namespace = source.namespace ?? (docker?.engine.engine.imageStore === 'containerd' ? 'moby' : 'k8s.io');
    if (
      !this.ctrd ||
      this.ctrd.namespace !== namespace ||
      this.ctrd.socketPath !== source.address.replace(/^unix:\/\//, '')
    ) {
      this.ctrd?.close();
      this.ctrd = new ContainerdClient(source.address, namespace);
    }
    const client = this.ctrd;
    const snapshotter = source.snapshotter ?? DEFAULT_SNAPSHOTTER;
    let facts: ContainerdFacts | null = null;
    let k3s: K3s | null = null;
    const k3sPaths = source.k3sPaths === undefined ? DEFAULT_K3S_PATHS : source.k3sPaths;
    const collectors: Collector<null>[] = [
      {
        name: 'containerd',
        async collect() {
          // Writable layers are walked on the slow cadence (slowPass), like Docker's.
          facts = await collectContainerd(client, {
            snapshotter,
            signal,
            resolveCache: resolveCacheOf(client),
            walkWritable: false,
          });
        },
      },
    ];
    if (k3sPaths && k3sPresent(k3sPaths)) {
      collectors.push({
        name: 'k3s',
        async collect() {
          k3s = await readK3s(k3sPaths, signal);
        },
      });
    }
    reports.push(...(await runCollectors(collectors, null, onReport)));
    const got = facts as ContainerdFacts | null;
    if (!got) return null;
    this.lastContainerdRoot = got.root ?? this.lastContainerdRoot;
    this.lastContainerdFacts = got;
    const pass = {
      namespace,
      address: client.socketPath,
      snapshotter,
      k3s,
      facts: got,
      unresolved: unresolvedImages(got),
    };
    return { ...pass, parts: this.containerdParts(pass) };
  }

  /** Maps a containerd pass to inventory parts, with the writable-layer walks the slow pass made. */
  private containerdParts(pass: Omit<ContainerdPass, 'parts'>): ContainerdInventoryParts {
    const writable = new Map<string, TreeUsage>();
    for (const c of pass.facts.containers) {
      const walked = this.ctrdWritable.get(c.id);
      if (walked && walked.dir === pass.facts.upperDirs.get(c.snapshotKey)) writable.set(c.id, walked.usage);
    }
    return containerdInventoryParts({
      facts: { ...pass.facts, writable },
      address: pass.address,
      namespace: pass.namespace,
      snapshotter: pass.snapshotter,
      now: this.now(),
      k3s: pass.k3s,
      imageLastUsed: this.options.store.state.imageLastUsed,
    });
  }

  /** Walks containerd containers' upper directories (apparent and allocated bytes), one at a time. */
  private async walkContainerdWritable(signal?: AbortSignal): Promise<void> {
    const facts = this.lastContainerdFacts;
    if (!facts) return;
    const seen = new Set<string>();
    for (const c of facts.containers) {
      const dir = facts.upperDirs.get(c.snapshotKey);
      if (!dir) continue;
      seen.add(c.id);
      this.ctrdWritable.set(c.id, { dir, usage: await measureTree(dir, { oneFileSystem: true, signal }) });
    }
    for (const id of this.ctrdWritable.keys()) if (!seen.has(id)) this.ctrdWritable.delete(id);
  }

  /** The expensive walks and build cache, one pass at a time; a call during a pass waits for it. */
  slowPass(
    facts: CheapFacts | null,
    signal?: AbortSignal,
    onReport?: ReportListener,
    /** Settles when the cheap pass that gave `facts` is complete (it may still run when the walks start). */
    cheapDone: Promise<void> = Promise.resolve(),
    /** Settles when `facts.layers` is final. */
    layersRead: Promise<void> = Promise.resolve(),
  ): Promise<void> {
    if (this.slowRunning) return this.slowRunning;
    this.slowRunning = (async () => {
      try {
        const reports: CollectorReport[] = [];
        const ctx: SlowContext | null = facts && {
          client: this.options.client,
          facts,
          layersRead,
          results: this.slow,
          mountInfoPath: this.options.mountInfoPath,
          signal,
        };
        if (ctx) reports.push(...(await runCollectorsConcurrently(SLOW_COLLECTORS, ctx, onReport)));
        // The content analysis reads the images and what the walks measured, so it runs after
        // both; the containerd part reads what the rest of the cheap pass found.
        await cheapDone;
        const analyzer = this.options.analyzer;
        if (ctx && analyzer) reports.push(...(await runCollectors([analyzer.collector], ctx, onReport)));
        if (this.lastContainerdFacts) {
          const walk = () => this.walkContainerdWritable(signal);
          reports.push(...(await runCollectors([{ name: 'containerd-writable', collect: walk }], null, onReport)));
        }
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
    const inventory = await this.assemble(pass);
    return this.options.analyzer ? this.options.analyzer.decorate(inventory) : inventory;
  }

  private async assemble(pass: CheapPass): Promise<Inventory> {
    const host = await this.hostInfo();
    const collectors = [...pass.reports, ...this.slowReports];
    const ctrd = pass.containerd ? { ...pass.containerd, parts: this.containerdParts(pass.containerd) } : null;
    const selection = this.options.selection ? { selection: this.options.selection } : {};
    if (!pass.facts) {
      if (!ctrd) throw new Error('no engine was measured');
      // Image use recorded in this pass: last-used times of the images just seen.
      for (const image of ctrd.parts.images)
        image.lastUsedAt = this.options.store.state.imageLastUsed[image.id] ?? null;
      const root = ctrd.parts.store.root;
      const filesystem = root ? await measureFilesystem(root, this.options.mountInfoPath).catch(() => null) : null;
      return {
        ...containerdInventory({
          parts: ctrd.parts,
          agentVersion: AGENT_VERSION,
          collectedAt: this.now(),
          host,
          filesystem,
          collectors,
          unresolved: ctrd.unresolved,
        }),
        ...selection,
      };
    }
    const inv = assembleInventory({
      agentVersion: AGENT_VERSION,
      collectedAt: this.now(),
      host,
      facts: pass.facts,
      slow: this.slow,
      imageLastUsed: this.options.store.state.imageLastUsed,
      collectors,
    });
    if (!ctrd) return { ...inv, ...selection };
    if (inv.engine.imageStore === 'containerd' && ctrd.namespace === 'moby') {
      // Docker cannot measure layers on its containerd image store; containerd's namespace
      // moby holds exactly those images, so its figures stand in for the image categories.
      for (const image of ctrd.parts.images)
        image.lastUsedAt = this.options.store.state.imageLastUsed[image.id] ?? null;
      return {
        ...inv,
        engine: {
          ...inv.engine,
          unsupportedReason: `${inv.engine.unsupportedReason ?? ''}; image and layer figures come from the containerd collector (namespace moby)`,
        },
        images: ctrd.parts.images,
        layers: ctrd.parts.layers,
        totals: { ...inv.totals, imagesBytes: ctrd.parts.imagesBytes, imageCount: ctrd.parts.images.length },
        containerd: ctrd.parts.store,
        ...selection,
      };
    }
    return { ...inv, containerd: ctrd.parts.store, ...selection };
  }

  /** Everything once: what `scan --json` prints. */
  async scanOnce(signal?: AbortSignal, onReport?: ReportListener): Promise<Inventory> {
    // The walk workers start while the API is listed, and the walks while the layerdb and the images are read.
    walkPool()?.prestart();
    let cheapDone = () => {};
    const done = new Promise<void>((resolve) => {
      cheapDone = resolve;
    });
    const early: { pass: Promise<void> | null } = { pass: null };
    let first: CheapPass;
    try {
      first = await this.cheapPass(signal, onReport, false, (facts, layersRead) => {
        early.pass = this.slowPass(facts, signal, onReport, done, layersRead);
      });
    } catch (err) {
      cheapDone();
      await early.pass?.catch(() => {});
      throw err;
    }
    cheapDone();
    await (early.pass ?? this.slowPass(first.facts, signal, onReport));
    return this.inventory(first);
  }

  /** Stops following engine events and closes the containerd connection. */
  close(): void {
    this.changes?.stop();
    this.ctrd?.close();
    this.ctrd = null;
  }

  /** Stores the layer walks when they changed (compared entry by entry: no copy, no encoding). */
  private persistLayerUsage(): void {
    const current = this.slow.layerUsage;
    if (layerUsageStored(this.options.store.state.layerUsage, current)) return;
    const next: Record<string, { cacheId: string; apparentBytes: number; allocatedBytes: number; entries: number }> =
      {};
    for (const [chainId, { cacheId, usage }] of current) next[chainId] = { cacheId, ...usage };
    this.options.store.state.layerUsage = next;
    this.options.store.markDirty();
  }
}

/** Whether the state file already holds exactly these layer walks. */
function layerUsageStored(
  stored: Record<string, { cacheId: string; apparentBytes: number; allocatedBytes: number; entries: number }>,
  current: SlowResults['layerUsage'],
): boolean {
  if (Object.keys(stored).length !== current.size) return false;
  for (const [chainId, { cacheId, usage }] of current) {
    const s = stored[chainId];
    if (
      s?.cacheId !== cacheId ||
      s.apparentBytes !== usage.apparentBytes ||
      s.allocatedBytes !== usage.allocatedBytes ||
      s.entries !== usage.entries
    ) {
      return false;
    }
  }
  return true;
}

const resolveCaches = new WeakMap<ContainerdClient, Map<string, ResolvedImage>>();
/** Manifests and configs are immutable per digest: one cache per client (namespace). */
function resolveCacheOf(client: ContainerdClient): Map<string, ResolvedImage> {
  let cache = resolveCaches.get(client);
  if (!cache) {
    cache = new Map();
    resolveCaches.set(client, cache);
  }
  return cache;
}
