import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { curlJson, docker, requireDockerTestEnv } from '../../test/helpers.js';
import { readImageFromStore } from './images.js';

const env = requireDockerTestEnv();

describe('readImageFromStore', () => {
  it('reads the same diffIDs and parent as the Engine API inspect, for every image on the engine', async () => {
    const info = await curlJson<{ Driver: string; DockerRootDir: string }>(env, '/info');
    const imagedb = path.join(info.DockerRootDir, 'image', info.Driver, 'imagedb');
    const ids = [...new Set((await docker(env, ['images', '-aq', '--no-trunc'])).split('\n').filter(Boolean))];
    expect(ids.length).toBeGreaterThan(5);
    const inspected = JSON.parse(await docker(env, ['image', 'inspect', ...ids])) as Array<{
      Id: string;
      RootFS: { Layers?: string[] };
      Parent: string;
    }>;
    expect(inspected.map((i) => i.Id).sort()).toEqual([...ids].sort());
    for (const inspect of inspected) {
      expect(readImageFromStore(imagedb, inspect.Id), inspect.Id).toEqual({
        diffIds: inspect.RootFS.Layers ?? [],
        parentId: inspect.Parent || null,
      });
    }
  });

  it('answers null for an image that is not in the store, so the API is asked', () => {
    expect(readImageFromStore('/nonexistent/imagedb', `sha256:${'0'.repeat(64)}`)).toBeNull();
    expect(readImageFromStore('/nonexistent/imagedb', 'not-an-id')).toBeNull();
  });
});
