import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.js';
import { allowNativeWalk, nativeWalkStatus } from '../fs/native-walk.js';
import { readLayerMetas } from './layers.js';

const hex = (c: string) => c.repeat(64);

describe('reading layerdb entries', () => {
  let layerdb: string;

  async function entry(chain: string, files: Record<string, string>) {
    const dir = path.join(layerdb, 'sha256', chain);
    await mkdir(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  }

  beforeAll(async () => {
    layerdb = await tempDir('layerdb');
    // A base layer: its chainID is its diffID, and it has no parent file.
    await entry(hex('a'), { diff: `sha256:${hex('a')}`, 'cache-id': 'cachea\n', size: '4096' });
    await entry(hex('b'), {
      diff: `sha256:${hex('d')}\n`,
      'cache-id': 'cacheb',
      size: '12\n',
      parent: `sha256:${hex('a')}`,
    });
    // Still being registered: no size yet.
    await entry(hex('c'), { diff: `sha256:${hex('e')}`, 'cache-id': 'cachec' });
    // A size that is not a number.
    await entry(hex('f'), { diff: `sha256:${hex('f')}`, 'cache-id': 'cachef', size: '-1' });
  });

  afterEach(() => allowNativeWalk(true));

  afterAll(async () => {
    await rm(layerdb, { recursive: true, force: true });
  });

  it('reads the same entries natively and in JavaScript, skipping ones being registered', async () => {
    expect(nativeWalkStatus().loaded).toBe(true);
    const chains = [hex('a'), hex('b'), hex('c'), hex('f'), hex('9')];
    const native = await readLayerMetas(layerdb, chains);
    allowNativeWalk(false);
    const javascript = await readLayerMetas(layerdb, chains);
    expect(native).toEqual(javascript);
    expect(native).toEqual([
      { chainId: `sha256:${hex('a')}`, diffId: `sha256:${hex('a')}`, cacheId: 'cachea', sizeBytes: 4096, parent: null },
      {
        chainId: `sha256:${hex('b')}`,
        diffId: `sha256:${hex('d')}`,
        cacheId: 'cacheb',
        sizeBytes: 12,
        parent: `sha256:${hex('a')}`,
      },
      null,
      null,
      null,
    ]);
  });

  it('fails in both when an entry cannot be read, rather than leaving a layer out', async () => {
    await entry(hex('7'), { diff: `sha256:${hex('7')}`, size: '1' });
    await mkdir(path.join(layerdb, 'sha256', hex('7'), 'cache-id'));
    await expect(readLayerMetas(layerdb, [hex('7')])).rejects.toMatchObject({ code: 'EINVAL' });
    allowNativeWalk(false);
    await expect(readLayerMetas(layerdb, [hex('7')])).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
