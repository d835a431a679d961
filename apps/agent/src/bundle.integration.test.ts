import { access, copyFile, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ZInventory } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, runBundle } from '../test/bundle.js';
import { AGENT_DIR, docker, requireDockerTestEnv, tempDir } from '../test/helpers.js';

const env = requireDockerTestEnv();
let dir: string;
let bundle: string;

/** Every directory from `dir` up to / lacks node_modules: nothing but node itself can help. */
async function noNodeModulesAbove(start: string): Promise<string[]> {
  const found: string[] = [];
  for (let d = start; ; d = path.dirname(d)) {
    try {
      await access(path.join(d, 'node_modules'));
      found.push(path.join(d, 'node_modules'));
    } catch {}
    if (d === path.dirname(d)) return found;
  }
}

beforeAll(async () => {
  const built = await buildBundle();
  dir = await tempDir('bundle');
  bundle = path.join(dir, 'ballast-agent.mjs');
  await copyFile(built, bundle);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the bundled agent, alone in an empty directory', () => {
  it('has no node_modules anywhere above it', async () => {
    expect(await noNodeModulesAbove(dir)).toEqual([]);
  });

  it('scans the real dockerd and prints an inventory matching its schema and the docker CLI', async () => {
    const result = await runBundle(bundle, [
      'scan',
      '--json',
      '--docker-host',
      env.host,
      '--state-dir',
      path.join(dir, 'state'),
    ]);
    expect(result.stderr).not.toMatch(/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/);
    expect(result.code).toBe(0);
    const inventory = ZInventory.parse(JSON.parse(result.stdout));

    const [containers, volumes, version, rootDir] = await Promise.all([
      docker(env, ['ps', '-a', '-q', '--no-trunc']),
      docker(env, ['volume', 'ls', '-q']),
      docker(env, ['version', '--format', '{{.Server.Version}}']),
      docker(env, ['info', '--format', '{{.DockerRootDir}}']),
    ]);
    const lines = (s: string) => s.split('\n').filter((l) => l.trim().length > 0);
    expect(inventory.engine.version).toBe(version.trim());
    expect(inventory.engine.dataRoot).toBe(rootDir.trim());
    expect(inventory.totals.containerCount).toBe(lines(containers).length);
    expect(new Set(inventory.containers.map((c) => c.id))).toEqual(new Set(lines(containers)));
    expect(inventory.totals.volumeCount).toBe(lines(volumes).length);
    expect(inventory.agentVersion).toBe((await runBundle(bundle, ['version'])).stdout.trim());
  });

  it('reports its version from the bundle itself', async () => {
    const { version } = JSON.parse(await readFile(path.join(AGENT_DIR, 'package.json'), 'utf8')) as { version: string };
    const result = await runBundle(bundle, ['version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });
});
