import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Duplicates, ImageWaste, Inventory } from '@ballast/shared';
import type { CheapFacts } from '../collectors/context.js';
import type { Collector } from '../collectors/registry.js';
import type { SlowContext } from '../collectors/usage.js';
import { type HashBudget, Pacer } from './budget.js';
import { duplicateFiles, duplicateLayers } from './findings.js';
import { readOpaqueDirs } from './hash-layer.js';
import { compareNames } from './records.js';
import { ContentStore, type HashPassResult, type LayerToHash, MIN_DUPLICATE_FILE_BYTES } from './store.js';

export interface AnalysisResult {
  duplicates: Duplicates;
  /** Every image whose layers are all hashed, by image ID. */
  waste: Map<string, ImageWaste>;
}

/** The content-analysis directory inside the agent's state dir. */
export function contentDir(stateDir: string): string {
  return path.join(stateDir, 'content');
}

/**
 * Duplicate content and waste, on the slow cadence: each pass hashes the layers not hashed yet
 * within the budget, then recomputes the findings from the cached per-layer lists. A layer is
 * hashed once in its life (cached by chainID in the state dir); findings cover the hashed
 * layers and say how many are pending.
 */
export class ContentAnalyzer {
  readonly store: ContentStore;
  private last: AnalysisResult | null = null;
  /** Hashed chainIDs the duplicate findings were computed over; recomputed when it changes. */
  private findingsKey = '';
  lastPass: HashPassResult | null = null;

  constructor(
    stateDir: string,
    private readonly budget: HashBudget,
  ) {
    this.store = new ContentStore(contentDir(stateDir));
  }

  get result(): AnalysisResult | null {
    return this.last;
  }

  readonly collector: Collector<SlowContext> = {
    name: 'content-analysis',
    collect: (ctx) => this.pass(ctx.facts, ctx.signal),
  };

  async pass(facts: CheapFacts, signal?: AbortSignal): Promise<void> {
    const layerdbDir = facts.engine.layerdbDir;
    if (facts.engine.engine.imageStore !== 'overlay2' || facts.layerSource !== 'layerdb' || !layerdbDir) {
      this.last = null;
      return;
    }
    const root = facts.engine.root;
    const layers = [...facts.layers.values()]
      .flatMap(({ chainId, cacheId }) => (cacheId ? [{ chainId, cacheId }] : []))
      .sort((a, b) => compareNames(a.chainId, b.chainId));
    // The layerdb was read (layerSource is only set once it was): a layer missing from it is gone.
    await this.store.prune(new Set(layers.map((l) => l.chainId)), new Set(facts.images.map((i) => i.id)));
    // Paths only for the layers not hashed yet: on a warm pass, none of thousands.
    const pending: LayerToHash[] = layers.flatMap(({ chainId, cacheId }) =>
      this.store.digest(chainId, cacheId)
        ? []
        : [
            {
              chainId,
              cacheId,
              diffDir: root.join('overlay2', cacheId, 'diff'),
              opaqueDirs: () => readOpaqueDirs(path.join(layerdbDir, 'sha256', chainId.slice(7), 'tar-split.json.gz')),
            },
          ],
    );
    const pass = await this.store.hashPending(pending, new Pacer(this.budget, signal));
    this.lastPass = pass;

    const hashed = layers.flatMap((l) => {
      const d = this.store.digest(l.chainId, l.cacheId);
      return d ? [{ chainId: l.chainId, ...d }] : [];
    });
    // A digest of the hashed layers' IDs, fed one at a time: joined, they are ~150 kB on a host
    // with 2,000 layers.
    const keyHash = createHash('sha256');
    for (const [i, h] of hashed.entries()) keyHash.update(i === 0 ? h.chainId : `,${h.chainId}`);
    const key = keyHash.digest('hex');
    let duplicates = this.last?.duplicates;
    if (!duplicates || key !== this.findingsKey) {
      const store = this.store;
      const files = await duplicateFiles(
        (async function* () {
          for (const h of hashed) yield { chainId: h.chainId, files: await store.bigFiles(h.chainId) };
        })(),
      );
      duplicates = {
        analyzedLayers: hashed.length,
        pendingLayers: layers.length - hashed.length,
        minFileBytes: MIN_DUPLICATE_FILE_BYTES,
        layers: duplicateLayers(hashed),
        files: files.files,
        filesWastedBytes: files.wastedBytes,
        fileGroups: files.groups,
      };
      this.findingsKey = key;
    }
    duplicates = { ...duplicates, analyzedLayers: hashed.length, pendingLayers: layers.length - hashed.length };
    const waste = new Map<string, ImageWaste>();
    for (const image of facts.images) {
      const w = this.last?.waste.get(image.id) ?? (await this.store.imageWaste(image.id, image.chainIds));
      if (w) waste.set(image.id, w);
    }
    this.last = { duplicates, waste };
    if (pass.failures.length > 0) {
      throw new Error(`${pass.failures.length} layer(s) not hashed: ${pass.failures.slice(0, 5).join('; ')}`);
    }
  }

  /** Adds the findings to an inventory: waste only for its (top-level) images that have some. */
  decorate(inventory: Inventory): Inventory {
    if (!this.last) return inventory;
    const waste = inventory.images
      .flatMap((i) => {
        const w = this.last?.waste.get(i.id);
        return w && w.wastedBytes > 0 ? [w] : [];
      })
      .sort((a, b) => b.wastedBytes - a.wastedBytes || compareNames(a.imageId, b.imageId));
    return { ...inventory, duplicates: this.last.duplicates, waste };
  }
}
