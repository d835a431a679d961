import { formatBytes } from '../format.js';
import type { Inventory } from '../inventory.js';
import type { Opportunity, OpportunityObject } from './opportunities.js';
import { monthlyCost, priceForHost, type SavingsPolicy } from './policy.js';

/**
 * Advice from the agent's content analysis (`inventory.duplicates`, `inventory.waste`): no job
 * can realise it, a rebuild of the images can. Bytes are apparent sizes of regular files as the
 * agent measured them; the three kinds never count the same copy twice on one host:
 *
 *   content.duplicateLayers  Σ (copies − 1) × layer bytes over layers stored under several chainIDs
 *   content.duplicateFiles   Σ (copies − 1) × file size over the listed duplicate files, where
 *                            copies inside layers that are duplicates of each other count once
 *                            (those bytes are already in content.duplicateLayers)
 *   content.imageWaste       Σ of the listed redundant copies (overwritten or deleted by an upper
 *                            layer), each (layer, path) once even when several images share it
 */

/** Image names using a layer, for advice a person can act on. */
function layerUsers(inventory: Inventory): Map<string, string[]> {
  const names = new Map(
    inventory.images.map((i) => [i.id, i.repoTags[0] ?? `${i.id.slice(7, 19)} (untagged)`] as const),
  );
  const users = new Map<string, string[]>();
  for (const layer of inventory.layers) {
    users.set(
      layer.chainId,
      layer.imageIds.flatMap((id) => {
        const name = names.get(id);
        return name ? [name] : [];
      }),
    );
  }
  return users;
}

function describeLayer(chainId: string, users: Map<string, string[]>): string {
  const names = users.get(chainId) ?? [];
  return names[0] ?? `layer ${chainId.slice(7, 19)} (no image)`;
}

/** The host-level content opportunities, one per kind with something to say. */
export function contentOpportunities(inventory: Inventory, policy: SavingsPolicy): Opportunity[] {
  const d = inventory.duplicates;
  if (!d) return [];
  const out: Opportunity[] = [];
  const users = layerUsers(inventory);
  const partial =
    d.pendingLayers > 0
      ? [`${d.pendingLayers} layers are not hashed yet; findings cover the other ${d.analyzedLayers}.`]
      : [];

  if (d.layers.length > 0) {
    const objects: OpportunityObject[] = d.layers.map((g) => {
      const [first, ...rest] = g.chainIds.map((id) => describeLayer(id, users));
      return {
        id: g.contentDigest,
        name: `${rest.join(', ')} ${rest.length === 1 ? 'repeats' : 'repeat'} the ${formatBytes(g.bytes)} layer content of ${first}`,
        bytes: g.wastedBytes,
        note: 'rebuild on a shared base',
      };
    });
    const reclaimableBytes = d.layers.reduce((s, g) => s + g.wastedBytes, 0);
    out.push({
      kind: 'content.duplicateLayers',
      title: `${d.layers.length} layer${d.layers.length === 1 ? '' : 's'} stored more than once`,
      reclaimableBytes,
      monthlyCost: monthlyCost(reclaimableBytes, priceForHost(policy, inventory.host.labels)),
      risk: 'low',
      confidence: 'partial',
      action: null,
      defaultSelected: false,
      explanation:
        'Layers with identical content (same files, modes and bytes; mtimes and owners ignored) stored under different layer IDs, because they were built at different times or on different parents. Bytes: apparent size of the regular files of each extra copy.',
      caveats: [
        'Only a rebuild frees these bytes: build the images FROM one shared base image (or copy the content in one shared stage), then remove the old images.',
        ...partial,
      ],
      objects,
    });
  }

  // Copies in layers that duplicate each other are one copy here: counted above already.
  const layerGroup = new Map<string, string>();
  for (const g of d.layers) for (const id of g.chainIds) layerGroup.set(id, g.contentDigest);
  const fileObjects: OpportunityObject[] = [];
  for (const f of d.files) {
    // Copies beyond the listed ones are counted as distinct: they cannot be matched to a layer group.
    const distinct =
      new Set(f.copies.map((c) => `${layerGroup.get(c.chainId) ?? c.chainId}\u0000${c.path}`)).size +
      (f.copyCount - f.copies.length);
    const bytes = f.bytes * (distinct - 1);
    if (bytes === 0) continue;
    const places = f.copies.map((c) => `${describeLayer(c.chainId, users)}:${c.path}`);
    fileObjects.push({
      id: f.contentHash,
      name: `${formatBytes(f.bytes)} file stored ${distinct} times: ${places.slice(0, 3).join(', ')}${places.length > 3 ? ', …' : ''}`,
      bytes,
    });
  }
  if (fileObjects.length > 0) {
    fileObjects.sort((a, b) => b.bytes - a.bytes);
    const reclaimableBytes = fileObjects.reduce((s, o) => s + o.bytes, 0);
    const unlisted = d.fileGroups - d.files.length;
    out.push({
      kind: 'content.duplicateFiles',
      title: `${fileObjects.length} file${fileObjects.length === 1 ? '' : 's'} of ${formatBytes(d.minFileBytes)} or more stored in several layers`,
      reclaimableBytes,
      monthlyCost: monthlyCost(reclaimableBytes, priceForHost(policy, inventory.host.labels)),
      risk: 'low',
      confidence: 'partial',
      action: null,
      defaultSelected: false,
      explanation:
        'The same file content (sha256) stored in several layers or images on this host. Bytes: (copies − 1) × file size, copies inside duplicate layers counted once; what a shared base layer (or a deduplicating store) would save.',
      caveats: [
        'Only a rebuild frees these bytes: move the shared files into a common base layer.',
        ...(unlisted > 0 ? [`${unlisted} smaller duplicate groups are not listed and not counted.`] : []),
        ...partial,
      ],
      objects: fileObjects,
    });
  }

  const waste = inventory.waste ?? [];
  if (waste.length > 0) {
    const seen = new Set<string>();
    let reclaimableBytes = 0;
    let unlisted = 0;
    const names = new Map(inventory.images.map((i) => [i.id, i.repoTags[0] ?? `${i.id.slice(7, 19)} (untagged)`]));
    for (const w of waste) {
      unlisted += w.itemCount - w.items.length;
      for (const item of w.items) {
        const key = `${item.chainId}\u0000${item.path}`;
        if (seen.has(key)) continue;
        seen.add(key);
        reclaimableBytes += item.bytes;
      }
    }
    out.push({
      kind: 'content.imageWaste',
      title: `${waste.length} image${waste.length === 1 ? '' : 's'} carrying files their upper layers overwrite or delete`,
      reclaimableBytes,
      monthlyCost: monthlyCost(reclaimableBytes, priceForHost(policy, inventory.host.labels)),
      risk: 'low',
      confidence: 'partial',
      action: null,
      defaultSelected: false,
      explanation:
        'Files a lower layer stores and an upper layer of the same image overwrites, deletes or hides (opaque directory). Only the redundant copies count, never the one the image shows. Bytes: apparent size of those copies, each layer and path once.',
      caveats: [
        'Only a rebuild frees these bytes: delete files in the same RUN step that creates them, or use a multi-stage build.',
        'A layer other images also use keeps its bytes until those images are rebuilt too.',
        ...(unlisted > 0 ? [`${unlisted} smaller items beyond the 20 listed per image are not counted.`] : []),
      ],
      objects: waste.map((w) => ({
        id: w.imageId,
        name: names.get(w.imageId) ?? w.imageId.slice(7, 19),
        bytes: w.wastedBytes,
        ...(w.items[0] ? { note: `largest: ${w.items[0].path} (${w.items[0].reason})` } : {}),
      })),
    });
  }
  return out;
}
