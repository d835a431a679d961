import * as z from '@ballast/shared/zod';
import type { ContainerdClient, Descriptor } from './client.js';

/** What one image name resolves to for this host's platform, read from its manifest and config. */
export interface ResolvedImage {
  /** The config digest: what Docker and CRI call the image ID. */
  configDigest: string;
  /** Index (if any), manifest and config digests: the image's own metadata blobs. */
  metadataDigests: string[];
  /** Layer blobs, bottom first, aligned with diffIds. */
  layers: Array<{ digest: string; size: number; mediaType: string }>;
  diffIds: string[];
  createdAt: string | null;
  labels: Record<string, string>;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

const ZIndex = z.object({
  manifests: z.array(
    z.object({
      mediaType: z.optional(z.string()),
      digest: z.string(),
      platform: z.optional(z.object({ os: z.string(), architecture: z.string() })),
    }),
  ),
});
const ZManifest = z.object({
  config: z.object({ digest: z.string() }),
  layers: z.array(z.object({ digest: z.string(), size: z.int().check(z.nonnegative()), mediaType: z.string() })),
});
const ZConfig = z.object({
  created: z.optional(z.string()),
  config: z.optional(z.nullable(z.object({ Labels: z.optional(z.nullable(z.record(z.string(), z.string()))) }))),
  rootfs: z.object({ diff_ids: z.array(z.string()) }),
});

/** Go's GOARCH for this process: what an index's platform entries name. */
export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le' };
  return map[arch] ?? arch;
}

async function readJson<T extends z.ZodMiniType>(
  client: ContainerdClient,
  digest: string,
  schema: T,
  what: string,
  signal?: AbortSignal,
): Promise<z.output<T>> {
  const raw = await client.readContent(digest, signal);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Error(`${what} ${digest} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`${what} ${digest}: ${parsed.error.issues[0]?.message ?? 'unexpected shape'}`);
  return parsed.data;
}

/**
 * Follows an image's target to this platform's manifest and config. Results are immutable
 * per target digest and cached by the caller. A multi-platform index resolves to the
 * linux/<this arch> entry, else to the first entry whose manifest is present.
 */
export async function resolveImage(
  client: ContainerdClient,
  target: Descriptor,
  present: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  const metadataDigests = [target.digest];
  let manifestDigest = target.digest;
  if (INDEX_TYPES.has(target.mediaType)) {
    const index = await readJson(client, target.digest, ZIndex, 'index', signal);
    const arch = goArch();
    const pick =
      index.manifests.find(
        (m) => m.platform?.os === 'linux' && m.platform.architecture === arch && present.has(m.digest),
      ) ?? index.manifests.find((m) => present.has(m.digest));
    if (!pick) throw new Error(`index ${target.digest} has no manifest present in the content store`);
    manifestDigest = pick.digest;
    metadataDigests.push(pick.digest);
  }
  const manifest = await readJson(client, manifestDigest, ZManifest, 'manifest', signal);
  metadataDigests.push(manifest.config.digest);
  const config = await readJson(client, manifest.config.digest, ZConfig, 'config', signal);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new Error(
      `manifest ${manifestDigest} lists ${manifest.layers.length} layers but its config ${config.rootfs.diff_ids.length} diff IDs`,
    );
  }
  const created = config.created ? Date.parse(config.created) : Number.NaN;
  return {
    configDigest: manifest.config.digest,
    metadataDigests,
    layers: manifest.layers,
    diffIds: config.rootfs.diff_ids,
    createdAt: Number.isNaN(created) ? null : new Date(created).toISOString(),
    labels: config.config?.Labels ?? {},
  };
}
