import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlJson, docker, requireDockerTestEnv, tempDir } from '../../test/helpers.js';
import type { LayerMeta, ScanContext } from './context.js';
import { imagesFromStore, readImageFromStore } from './images.js';
import { readLayerMetas } from './layers.js';

const env = requireDockerTestEnv();

function contextWith(layers: Map<string, LayerMeta>): ScanContext {
  return { imageCache: new Map(), layerMetaCache: new Map(layers), facts: { layers } } as unknown as ScanContext;
}

async function engineStore(): Promise<{ storeDir: string; layers: Map<string, LayerMeta> }> {
  const info = await curlJson<{ Driver: string; DockerRootDir: string }>(env, '/info');
  const storeDir = path.join(info.DockerRootDir, 'image', info.Driver);
  const layerdb = path.join(storeDir, 'layerdb');
  const hexes = (await readdir(path.join(layerdb, 'sha256'))).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const layers = new Map<string, LayerMeta>();
  for (const meta of await readLayerMetas(layerdb, hexes)) if (meta) layers.set(meta.chainId, meta);
  return { storeDir, layers };
}

describe('readImageFromStore', () => {
  it('reads the same diffIDs, parent, creation time and labels as the Engine API inspect, for every image', async () => {
    const { storeDir } = await engineStore();
    const ids = [...new Set((await docker(env, ['images', '-aq', '--no-trunc'])).split('\n').filter(Boolean))];
    expect(ids.length).toBeGreaterThan(5);
    const inspected = JSON.parse(await docker(env, ['image', 'inspect', ...ids])) as Array<{
      Id: string;
      RootFS: { Layers?: string[] };
      Parent: string;
      Created: string;
      Os: string;
      Config: { Labels: Record<string, string> | null } | null;
    }>;
    expect(inspected.map((i) => i.Id).sort()).toEqual([...ids].sort());
    for (const inspect of inspected) {
      expect(readImageFromStore(path.join(storeDir, 'imagedb'), inspect.Id), inspect.Id).toEqual({
        diffIds: inspect.RootFS.Layers ?? [],
        parentId: inspect.Parent || null,
        created: Math.floor(Date.parse(inspect.Created) / 1000),
        labels: inspect.Config?.Labels ?? {},
        os: inspect.Os,
      });
    }
  });

  it('answers null for an image that is not in the store, so the API is asked', () => {
    expect(readImageFromStore('/nonexistent/imagedb', `sha256:${'0'.repeat(64)}`)).toBeNull();
    expect(readImageFromStore('/nonexistent/imagedb', 'not-an-id')).toBeNull();
  });
});

describe('imagesFromStore', () => {
  it('lists every image as /images/json?all=1 does: IDs, tags, digests, parent, creation, labels and size', async () => {
    const { storeDir, layers } = await engineStore();
    const stored = await imagesFromStore(contextWith(layers), storeDir);
    const api = await curlJson<
      Array<{
        Id: string;
        ParentId: string;
        RepoTags: string[] | null;
        RepoDigests: string[] | null;
        Created: number;
        Labels: Record<string, string> | null;
        Size: number;
      }>
    >(env, '/images/json?all=1');
    const real = (refs: string[] | null) => (refs ?? []).filter((r) => r !== '<none>:<none>' && r !== '<none>@<none>');
    expect(api.length).toBeGreaterThan(5);
    expect(api.some((i) => real(i.RepoTags).length > 1)).toBe(true);
    const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
    expect(
      (stored ?? [])
        .map(({ id, repoTags, repoDigests, parentId, createdAt, labels, apiSizeBytes }) => ({
          id,
          repoTags,
          repoDigests,
          parentId,
          createdAt,
          labels,
          apiSizeBytes,
        }))
        .sort(byId),
    ).toEqual(
      api
        .map((i) => ({
          id: i.Id,
          repoTags: real(i.RepoTags),
          repoDigests: real(i.RepoDigests),
          parentId: i.ParentId || null,
          createdAt: i.Created > 0 ? new Date(i.Created * 1000).toISOString() : null,
          labels: i.Labels ?? {},
          apiSizeBytes: i.Size,
        }))
        .sort(byId),
    );
  });

  describe('on a store of its own', () => {
    let storeDir: string;
    const base = `sha256:${'b'.repeat(64)}`;
    const layers = new Map<string, LayerMeta>([
      [base, { chainId: base, diffId: base, cacheId: 'c', sizeBytes: 1234, parent: null }],
    ]);

    async function addImage(config: object, tamper = false): Promise<string> {
      const text = JSON.stringify(config);
      const hex = createHash('sha256').update(text).digest('hex');
      await writeFile(path.join(storeDir, 'imagedb/content/sha256', hex), tamper ? `${text} ` : text);
      return `sha256:${hex}`;
    }

    beforeAll(async () => {
      storeDir = await tempDir('image-store');
      await mkdir(path.join(storeDir, 'imagedb/content/sha256'), { recursive: true });
      await mkdir(path.join(storeDir, 'imagedb/metadata/sha256'), { recursive: true });
    });

    afterAll(async () => {
      await rm(storeDir, { recursive: true, force: true });
    });

    it("leaves out what dockerd's image store leaves out, and reads references in dockerd's order", async () => {
      const rootfs = { type: 'layers', diff_ids: [base] };
      const good = await addImage({ created: '2026-03-04T05:06:07.999999999+01:00', os: 'linux', rootfs });
      const noDate = await addImage({ os: 'linux', rootfs, config: { Labels: { a: 'b' } } });
      const tampered = await addImage({ created: '2026-01-01T00:00:00Z', rootfs }, true);
      const otherOs = await addImage({ os: 'windows', rootfs });
      const missingLayer = await addImage({ rootfs: { type: 'layers', diff_ids: [`sha256:${'c'.repeat(64)}`] } });
      const empty = await addImage({ created: '0001-01-01T00:00:00Z', rootfs: { type: 'layers' } });
      await writeFile(
        path.join(storeDir, 'repositories.json'),
        JSON.stringify({
          Repositories: {
            zeta: { 'zeta:1': good },
            'localhost:5000/app': { 'localhost:5000/app:2': good },
            'registry.example/app': { [`registry.example/app@sha256:${'d'.repeat(64)}`]: good },
            alpha: { 'alpha:latest': good },
          },
        }),
      );
      const images = await imagesFromStore(contextWith(layers), storeDir);
      expect(images?.map((i) => i.id).sort()).toEqual([good, noDate, empty].sort());
      const first = images?.find((i) => i.id === good);
      // docker.io/library/alpha, docker.io/library/zeta, localhost:5000/app: sorted as normalized names.
      expect(first?.repoTags).toEqual(['alpha:latest', 'zeta:1', 'localhost:5000/app:2']);
      expect(first?.repoDigests).toEqual([`registry.example/app@sha256:${'d'.repeat(64)}`]);
      expect(first?.createdAt).toBe('2026-03-04T04:06:07.000Z');
      expect(first?.apiSizeBytes).toBe(1234);
      expect(images?.find((i) => i.id === noDate)).toMatchObject({ createdAt: null, labels: { a: 'b' }, repoTags: [] });
      expect(images?.find((i) => i.id === empty)).toMatchObject({ createdAt: null, apiSizeBytes: 0, chainIds: [] });
      expect([tampered, otherOs, missingLayer].some((id) => images?.some((i) => i.id === id))).toBe(false);
    });

    it('answers null when the reference store cannot be read, so the API is asked', async () => {
      await writeFile(path.join(storeDir, 'repositories.json'), '{"Repositories":');
      expect(await imagesFromStore(contextWith(layers), storeDir)).toBeNull();
      await rm(path.join(storeDir, 'repositories.json'));
      expect(await imagesFromStore(contextWith(layers), storeDir)).toBeNull();
    });
  });
});
