import { createReadStream, readdirSync } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import * as z from '@ballast/shared/zod';
import { errorMessage } from '../log.js';

/** Images k3s imports from its air-gap directory at every start: never removed by the agent. */
export interface AirgapImages {
  /** Normalized references (docker.io/library/… form, as containerd names them). */
  names: Set<string>;
  configDigests: Set<string>;
  /** Archives that could not be read: their images are unknown, so no image is removed. */
  unreadable: string[];
}

/** `busybox:1` → `docker.io/library/busybox:1`, as containerd (and CRI) name images. */
export function normalizeRef(ref: string): string {
  const first = ref.split('/')[0] ?? '';
  const hasDomain = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return ref;
  return ref.includes('/') ? `docker.io/${ref}` : `docker.io/library/${ref}`;
}

const ZDockerManifest = z.array(
  z.object({ Config: z.string(), RepoTags: z.optional(z.nullable(z.array(z.string()))) }),
);
const ZOciIndex = z.object({
  manifests: z.array(z.object({ annotations: z.optional(z.record(z.string(), z.string())) })),
});

/**
 * Reads `manifest.json` (docker save) and `index.json` (OCI layout) from a tar archive,
 * streaming past everything else. Plain and gzip-compressed archives; others are refused.
 */
async function archiveMetadata(file: string): Promise<Map<string, Buffer>> {
  const wanted = new Set(['manifest.json', 'index.json']);
  const found = new Map<string, Buffer>();
  let source: NodeJS.ReadableStream = createReadStream(file);
  if (/\.(tgz|tar\.gz)$/.test(file)) source = source.pipe(createGunzip());
  else if (!file.endsWith('.tar')) throw new Error(`${file}: only .tar and .tar.gz archives can be read`);
  let buffer = Buffer.alloc(0);
  let skip = 0;
  let capture: { name: string; size: number; parts: Buffer[]; got: number } | null = null;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (capture) {
        const take = Math.min(capture.size - capture.got, buffer.length);
        capture.parts.push(buffer.subarray(0, take));
        capture.got += take;
        buffer = buffer.subarray(take);
        if (capture.got < capture.size) break;
        found.set(capture.name, Buffer.concat(capture.parts));
        skip = (512 - (capture.size % 512)) % 512;
        capture = null;
      }
      if (skip > 0) {
        const n = Math.min(skip, buffer.length);
        skip -= n;
        buffer = buffer.subarray(n);
        if (skip > 0) break;
      }
      if (buffer.length < 512) break;
      const header = buffer.subarray(0, 512);
      buffer = buffer.subarray(512);
      if (header.every((b) => b === 0)) continue;
      const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '').replace(/^\.\//, '');
      const size = Number.parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
      if (Number.isNaN(size)) throw new Error(`${file}: not a tar archive`);
      if (wanted.has(name) && size < 16 * 1024 * 1024) capture = { name, size, parts: [], got: 0 };
      else skip = Math.ceil(size / 512) * 512;
    }
    if (found.size === wanted.size) break;
  }
  return found;
}

export async function readAirgapImages(dir: string): Promise<AirgapImages> {
  const out: AirgapImages = { names: new Set(), configDigests: new Set(), unreadable: [] };
  let files: string[];
  try {
    files = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of files) {
    const file = path.join(dir, name);
    // k3s also accepts .txt lists of images to pull; those are not imported archives.
    if (name.endsWith('.txt')) continue;
    try {
      const meta = await archiveMetadata(file);
      const manifest = meta.get('manifest.json');
      const index = meta.get('index.json');
      if (!manifest && !index) throw new Error(`${file}: neither manifest.json nor index.json found`);
      if (manifest) {
        for (const entry of ZDockerManifest.parse(JSON.parse(manifest.toString('utf8')))) {
          for (const tag of entry.RepoTags ?? []) out.names.add(normalizeRef(tag));
          const hex = /([0-9a-f]{64})(\.json)?$/.exec(entry.Config)?.[1];
          if (hex) out.configDigests.add(`sha256:${hex}`);
        }
      }
      if (index) {
        for (const m of ZOciIndex.parse(JSON.parse(index.toString('utf8'))).manifests) {
          const ref = m.annotations?.['io.containerd.image.name'];
          if (ref) out.names.add(normalizeRef(ref));
        }
      }
    } catch (err) {
      out.unreadable.push(errorMessage(err));
    }
  }
  return out;
}
