import { execFile } from 'node:child_process';
import { access, chmod, chown, copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Inventory, ZInventory } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, runBundle } from '../test/bundle.js';
import { AGENT_DIR, docker, requireDockerTestEnv, tempDir } from '../test/helpers.js';
import { SERVICE_ENVIRONMENT, SERVICE_NODE_FLAGS } from './install/unit.js';

const env = requireDockerTestEnv();
const run = promisify(execFile);
const NOBODY = 65534;
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

  it('walks with the native walker it carries, loaded from its state directory with no file left', async () => {
    const state = path.join(dir, 'walker-state');
    const result = await runBundle(bundle, [
      'scan',
      '--docker-host',
      env.host,
      '--state-dir',
      state,
      '--log-level',
      'debug',
    ]);
    expect(result.code).toBe(0);
    const line = result.stderr.split('\n').find((l) => l.includes('directory walker'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ walker: 'native' });
    expect((await readdir(state)).filter((n) => n.startsWith('.ballast-walk-'))).toEqual([]);
  });

  it('reports its version from the bundle itself', async () => {
    const { version } = JSON.parse(await readFile(path.join(AGENT_DIR, 'package.json'), 'utf8')) as { version: string };
    const result = await runBundle(bundle, ['version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });
});

/**
 * What the installed unit gives the agent, reproduced with setpriv (util-linux): an
 * unprivileged user, the Docker socket's group, and CAP_DAC_READ_SEARCH as its only
 * capability, with the unit's node flags and environment. Scans as root are the oracle.
 */
describe("the unit's identity: unprivileged, the socket's group, CAP_DAC_READ_SEARCH", () => {
  async function scanAs(setprivArgs: string[], name: string): Promise<Inventory> {
    const state = path.join(dir, `state-${name}`);
    await mkdir(state, { recursive: true });
    await chown(state, NOBODY, NOBODY);
    const { stdout, stderr } = await run(
      'setpriv',
      [
        ...setprivArgs,
        process.execPath,
        ...SERVICE_NODE_FLAGS,
        bundle,
        'scan',
        '--json',
        '--docker-host',
        env.host,
        '--state-dir',
        state,
      ],
      { maxBuffer: 256 * 1024 * 1024, env: { ...process.env, ...SERVICE_ENVIRONMENT } },
    );
    // node warns on stderr about a flag it ignores; the unit's must all be taken.
    expect(stderr).not.toMatch(/bad option|^Warning: disabling flag|^\(node:\d+\) \w*Warning/m);
    return ZInventory.parse(JSON.parse(stdout));
  }

  it('measures what root measures with that one capability, and the walks fail without it', async () => {
    await chmod(dir, 0o755);
    const socketGid = (await stat(env.socketPath)).gid;
    const identity = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, `--groups=${socketGid}`];
    const rootScan = await runBundle(bundle, [
      'scan',
      '--json',
      '--docker-host',
      env.host,
      '--state-dir',
      path.join(dir, 'state-root'),
    ]);
    expect(rootScan.code).toBe(0);
    const asRoot = ZInventory.parse(JSON.parse(rootScan.stdout));

    const hardened = await scanAs(
      [
        ...identity,
        '--inh-caps=-all,+dac_read_search',
        '--ambient-caps=+dac_read_search',
        '--bounding-set=-all,+dac_read_search',
      ],
      'hardened',
    );
    expect(hardened.collectors.filter((c) => !c.ok)).toEqual([]);
    expect(hardened.totals).toEqual(asRoot.totals);

    const bare = await scanAs([...identity, '--inh-caps=-all', '--bounding-set=-all'], 'bare');
    const failed = bare.collectors.filter((c) => !c.ok).map((c) => c.name);
    expect(failed.length).toBeGreaterThan(0);
    expect(bare.collectors.filter((c) => !c.ok).every((c) => /EACCES/.test(c.error ?? ''))).toBe(true);
  });
});
