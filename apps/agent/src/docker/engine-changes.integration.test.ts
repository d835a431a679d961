import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, requireDockerTestEnv, tempDir } from '../../test/helpers.js';
import type { CheapFacts } from '../collectors/context.js';
import { DEFAULT_HOST_PATHS } from '../host.js';
import { silentLogger } from '../log.js';
import { type CheapPass, Scanner } from '../scanner.js';
import { StateStore } from '../state/store.js';
import { DockerClient } from './client.js';
import { parseDockerHost } from './endpoint.js';
import { EngineChanges, isInventoryChange } from './engine-changes.js';

const env = requireDockerTestEnv();
const VOLUME = 'ballast-test-engine-changes';

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const removeVolume = () => docker(env, ['volume', 'rm', '-f', VOLUME]).catch(() => '');

/** The Docker facts of a pass (this engine is Docker only). */
function dockerFacts(pass: CheapPass): CheapFacts {
  if (!pass.facts) throw new Error('no Docker facts in the pass');
  return pass.facts;
}

describe('isInventoryChange', () => {
  it('ignores execs, health checks and reads; counts everything else, unparseable events included', () => {
    for (const Action of ['exec_start: sh -c true', 'exec_die', 'health_status: healthy', 'top', 'push']) {
      expect(isInventoryChange({ Type: 'container', Action }), Action).toBe(false);
    }
    for (const Action of ['create', 'start', 'die', 'destroy', 'rename', 'tag', 'untag', 'delete', 'mount', 'reload']) {
      expect(isInventoryChange({ Type: 'container', Action }), Action).toBe(true);
    }
    expect(isInventoryChange(null)).toBe(true);
    expect(isInventoryChange({ status: 'create' })).toBe(true);
  });
});

describe('EngineChanges against the test engine', () => {
  let client: DockerClient;
  beforeAll(async () => {
    await removeVolume();
    client = new DockerClient(parseDockerHost(env.host));
    await client.negotiate();
  });
  afterAll(async () => {
    client.close();
    await removeVolume();
  });

  it('vouches for nothing until subscribed, then sees a volume being created', async () => {
    const changes = new EngineChanges(client);
    expect(changes.mark()).toBeNull();
    expect(changes.unchangedSince(changes.mark())).toBe(false);
    changes.start();
    await until('the event stream', () => changes.mark() !== null);
    const mark = changes.mark();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(changes.unchangedSince(mark)).toBe(true);
    await docker(env, ['volume', 'create', VOLUME]);
    await until('the volume create event', () => !changes.unchangedSince(mark));
    changes.stop();
    expect(changes.mark()).toBeNull();
  });
});

describe('Scanner following engine events', () => {
  let dir: string;
  beforeAll(async () => {
    await removeVolume();
    dir = await tempDir('engine-changes-state');
  });
  afterAll(removeVolume);

  it('reuses the lists while nothing changes and lists again after a change, as `docker volume ls` shows', async () => {
    const client = new DockerClient(parseDockerHost(env.host));
    const scanner = new Scanner({
      client,
      store: await StateStore.open(dir, silentLogger),
      log: silentLogger,
      hostPaths: DEFAULT_HOST_PATHS,
      hostLabels: {},
      dataRootOverride: null,
      mountInfoPath: '/proc/self/mountinfo',
      watchEngineEvents: true,
    });
    try {
      const first = dockerFacts(await scanner.cheapPass());
      // The stream opens after the first pass; the next pass lists under its watch.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const listed = dockerFacts(await scanner.cheapPass());
      expect(listed.images).not.toBe(first.images);
      const reused = dockerFacts(await scanner.cheapPass());
      expect(reused.images).toBe(listed.images);
      expect(reused.volumes).toBe(listed.volumes);
      expect(reused.containers.map((c) => c.id)).toEqual(listed.containers.map((c) => c.id));
      const forced = dockerFacts(await scanner.cheapPass(undefined, undefined, true));
      expect(forced.images).not.toBe(reused.images);
      expect(forced.images).toEqual(reused.images);

      await docker(env, ['volume', 'create', VOLUME]);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = dockerFacts(await scanner.cheapPass());
      const names = (await docker(env, ['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();
      expect(after.volumes.map((v) => v.name).sort()).toEqual(names);
      expect(names).toContain(VOLUME);
    } finally {
      scanner.close();
      client.close();
    }
  });
});
