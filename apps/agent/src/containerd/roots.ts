import type { ContainerdClient } from './client.js';

const CONTENT_PLUGIN = 'io.containerd.content.v1';
const SNAPSHOTTER_PLUGIN = 'io.containerd.snapshotter.v1';

/**
 * Where containerd keeps an image's bytes, as the daemon itself reports it: the content store's
 * root (compressed blobs) and the snapshotter's root (unpacked layers), from the `root` each
 * plugin exports. Empty when neither exports one.
 */
export async function containerdStoreRoots(
  client: ContainerdClient,
  snapshotter: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const plugins = await client.plugins([CONTENT_PLUGIN, SNAPSHOTTER_PLUGIN], signal);
  const roots: string[] = [];
  for (const p of plugins) {
    const root = p.exports.root;
    if (!root) continue;
    if (p.type === CONTENT_PLUGIN || (p.type === SNAPSHOTTER_PLUGIN && p.id === snapshotter)) roots.push(root);
  }
  return [...new Set(roots)];
}
