import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Inventory } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, removeLabelled } from '../test/docker-build.js';
import {
  curlJson,
  type DockerTestEnv,
  docker,
  dockerRuleBytes,
  duAllocated,
  requireDockerTestEnv,
  sh,
  tempDir,
} from '../test/helpers.js';
import { DockerClient } from './docker/client.js';
import { parseDockerHost } from './docker/endpoint.js';
import { DEFAULT_HOST_PATHS } from './host.js';
import { silentLogger } from './log.js';
import { Scanner } from './scanner.js';
import { StateStore } from './state/store.js';

/*
 * Storage states the shared fixture (test/fixtures/make-docker-state.sh) does not build,
 * each checked against an oracle that shares no agent code (raw API through curl, the
 * docker CLI, du, find, stat, python's getxattr):
 *   - many images sharing a base and a middle layer, some tagged twice
 *   - hard links inside an image layer, a writable layer (also to a copied-up lower file),
 *     a named volume and an anonymous volume: one inode counted once
 *   - whiteouts (0:0 character devices) and opaque directories in image layers built by
 *     BuildKit and by the classic builder, and in writable layers
 *   - a running container whose writable layer and volumes hold all of the above
 * Rotated/compressed json-file logs, the local driver, the classic builder's intermediate
 * images and a dangling anonymous volume are covered by scanner.integration.test.ts.
 *
 * Everything here carries the label ballast.test=states and a per-run name prefix, and is
 * removed afterwards, so it runs on the shared test engine beside the fixture (fixture=fx).
 */

const SUITE_LABEL = 'ballast.test=states';
const prefix = `bst${randomBytes(3).toString('hex')}`;
const labels = { 'ballast.test': 'states', 'ballast.test.run': prefix };
const MANY = 24;

interface DfImage {
  Id: string;
  Size: number;
  SharedSize: number;
  Containers: number;
}
interface SystemDf {
  Images: DfImage[];
  Volumes: Array<{ Name: string; UsageData: { Size: number; RefCount: number } }>;
}

let env: DockerTestEnv;
let inventory: Inventory;
let df: SystemDf;
let stateDir: string;
const ids: Record<string, string> = {};

const api = (p: string) => `/v1.41${p}`;

/** On engines before 23.0 a concurrent df fails with 500 "already running": try again. */
async function systemDf(): Promise<SystemDf> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await curlJson<SystemDf>(env, api('/system/df'));
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

const shell = (script: string) => ['sh', '-c', script];
const WRITABLE_SCRIPT = [
  'set -e',
  'mkdir /w && dd if=/dev/urandom of=/w/a bs=1024 count=300 2>/dev/null && ln /w/a /w/b && ln /w/a /w/c',
  // A hard link to a lower-layer file copies it up first: two names, one inode, in the upper dir.
  'ln /h1 /w/h1-link',
  // Whiteouts for files of lower layers, and an opaque directory replacing /keep.
  'rm /d/n /h2',
  'rm -rf /keep && mkdir /keep && echo fresh > /keep/new',
].join('\n');

async function buildState(): Promise<void> {
  const base = `${prefix}/base:1`;
  ids.base = await buildImage(env, {
    tag: base,
    labels,
    // The run-id file makes the first layer unique, so no layer is shared with the fixture's.
    files: { 'rootfs/bin/busybox': { busybox: true }, 'rootfs/etc/run-id': `${prefix}\n` },
    dockerfile: [
      'FROM scratch',
      'COPY rootfs/ /',
      'RUN ["/bin/busybox","--install","-s","/bin"]',
      'RUN mkdir -p /keep && echo 1 > /keep/one && echo 2 > /keep/two && dd if=/dev/urandom of=/h1 bs=1024 count=40 2>/dev/null && ln /h1 /h2',
      'CMD ["/bin/sh"]',
    ].join('\n'),
  });
  const whiteoutDockerfile = [
    `FROM ${base}`,
    'RUN mkdir -p /d/sub && dd if=/dev/urandom of=/d/a bs=1024 count=64 2>/dev/null && dd if=/dev/urandom of=/d/sub/b bs=1024 count=32 2>/dev/null && dd if=/dev/urandom of=/gone bs=1024 count=16 2>/dev/null',
    'RUN rm /gone && rm -rf /d && mkdir /d && echo new > /d/n',
  ].join('\n');
  ids.wh = await buildImage(env, { tag: `${prefix}/wh:1`, labels, dockerfile: whiteoutDockerfile });
  ids.whClassic = await buildImage(env, {
    tag: `${prefix}/wh-classic:1`,
    labels,
    dockerfile: whiteoutDockerfile,
    builder: 'classic',
  });
  ids.mid = await buildImage(env, {
    tag: `${prefix}/mid:1`,
    labels,
    dockerfile: `FROM ${base}\nRUN dd if=/dev/urandom of=/mid.bin bs=1024 count=32 2>/dev/null\n`,
  });
  const many = Array.from({ length: MANY }, (_, i) => i);
  for (let i = 0; i < many.length; i += 4) {
    await Promise.all(
      many.slice(i, i + 4).map(async (n) => {
        ids[`many${n}`] = await buildImage(env, {
          tag: `${prefix}/many-${n}:1`,
          labels,
          files: { f: `${prefix} image ${n} ${'x'.repeat(n * 100)}\n` },
          dockerfile: `FROM ${n % 4 === 0 ? base : `${prefix}/mid:1`}\nCOPY f /f-${n}\n`,
        });
      }),
    );
  }
  await docker(env, ['tag', `${prefix}/many-1:1`, `${prefix}/many-1:also`]);

  await docker(env, [
    'volume',
    'create',
    '--label',
    SUITE_LABEL,
    '--label',
    `ballast.test.run=${prefix}`,
    `${prefix}-vol`,
  ]);
  const volumeScript = [
    'dd if=/dev/urandom of=/v/f bs=1024 count=200 2>/dev/null && ln /v/f /v/g && mkdir /v/sub && ln /v/f /v/sub/h && printf xy > /v/small',
    'dd if=/dev/urandom of=/anon/f bs=1024 count=100 2>/dev/null && ln /anon/f /anon/f2',
  ].join('\n');
  const run = ['--network', 'none', '--label', SUITE_LABEL, '--label', `ballast.test.run=${prefix}`];
  await docker(env, [
    'run',
    '-d',
    '--name',
    `${prefix}-running`,
    ...run,
    '-v',
    `${prefix}-vol:/v`,
    '-v',
    '/anon',
    `${prefix}/wh:1`,
    ...shell(`${WRITABLE_SCRIPT}\n${volumeScript}\ntouch /w/done\nexec sleep 86400`),
  ]);
  await docker(env, [
    'run',
    '--name',
    `${prefix}-stopped`,
    ...run,
    `${prefix}/wh-classic:1`,
    ...shell(WRITABLE_SCRIPT),
  ]);
  for (let i = 0; ; i += 1) {
    const ready = await docker(env, ['exec', `${prefix}-running`, 'test', '-f', '/w/done']).then(
      () => true,
      () => false,
    );
    if (ready) break;
    if (i > 100) throw new Error(`${prefix}-running did not finish writing`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function scan(): Promise<Inventory> {
  const client = new DockerClient(parseDockerHost(env.host));
  const store = await StateStore.open(stateDir, silentLogger);
  try {
    return await new Scanner({
      client,
      store,
      log: silentLogger,
      hostPaths: DEFAULT_HOST_PATHS,
      hostLabels: {},
      dataRootOverride: null,
      mountInfoPath: '/proc/self/mountinfo',
    }).scanOnce();
  } finally {
    client.close();
  }
}

const imageById = (id: string | undefined) => {
  const image = inventory.images.find((i) => i.id === id);
  if (!image) throw new Error(`image ${id} missing from the inventory`);
  return image;
};
const containerByName = (name: string) => {
  const c = inventory.containers.find((x) => x.name === `${prefix}-${name}`);
  if (!c) throw new Error(`container ${prefix}-${name} missing from the inventory`);
  return c;
};
const topLayer = (imageId: string | undefined) => {
  const chainId = imageById(imageId).chainIds.at(-1);
  const layer = inventory.layers.find((l) => l.chainId === chainId);
  if (!layer?.cacheId) throw new Error(`top layer of ${imageId} missing`);
  return { ...layer, diff: path.join(env.dataRoot, 'overlay2', layer.cacheId, 'diff') };
};

/** `find -type c` with device numbers: overlayfs whiteouts are 0:0 character devices. */
async function whiteouts(dir: string): Promise<string[]> {
  const out = await sh('sh', ['-c', 'cd "$1" && find . -type c -exec stat -c "%n %t:%T" {} +', 'sh', dir]);
  return out.trim().split('\n').filter(Boolean).sort();
}

async function isOpaque(dir: string): Promise<boolean> {
  const out = await sh('python3', [
    '-c',
    'import os,sys\ntry: print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())\nexcept OSError: print("")',
    dir,
  ]);
  return out.trim() === 'y';
}

/** Σ st_size of every non-directory, each name counted: what a walk that ignored hard links would report. */
async function namesBytes(dir: string): Promise<number> {
  const out = await sh('sh', [
    '-c',
    'find "$1" ! -type d -printf "%s\\n" | awk \'{ s += $1 } END { printf "%d", s }\'',
    'sh',
    dir,
  ]);
  return Number(out);
}

beforeAll(async () => {
  env = requireDockerTestEnv();
  await removeLabelled(env, SUITE_LABEL);
  await buildState();
  stateDir = path.join(await tempDir('states'), 'state');
  inventory = await scan();
  df = await systemDf();
}, 600_000);

afterAll(async () => {
  if (env) await removeLabelled(env, SUITE_LABEL);
  if (stateDir) await sh('rm', ['-rf', path.dirname(stateDir)]);
}, 300_000);

describe(`scan of states beyond the fixture (prefix ${prefix})`, () => {
  it('succeeds in every collector', () => {
    expect(inventory.collectors.filter((c) => !c.ok)).toEqual([]);
  });

  it('lists many images with sizes, sharing and users exactly as /system/df', async () => {
    const mine = new Set(
      (await docker(env, ['images', '-q', '--no-trunc', '--filter', `label=ballast.test.run=${prefix}`]))
        .trim()
        .split('\n'),
    );
    expect(mine.size).toBe(MANY + 4);
    const listed = inventory.images.filter((i) => i.labels['ballast.test.run'] === prefix);
    expect(new Set(listed.map((i) => i.id))).toEqual(mine);
    for (const image of listed) {
      const d = df.Images.find((x) => x.Id === image.id);
      expect(d, image.id).toBeDefined();
      expect(image.sizeBytes, image.id).toBe(d?.Size);
      expect(image.sharedBytes, image.id).toBe(d?.SharedSize);
      // BuildKit leaves no intermediate images, so Docker's unique size is what deleting frees.
      if (image.id !== ids.whClassic)
        expect(image.exclusiveBytes, image.id).toBe((d?.Size ?? 0) - (d?.SharedSize ?? 0));
      expect(image.containerIds.length, image.id).toBe(d?.Containers);
    }
    expect(imageById(ids.many1).repoTags.sort()).toEqual([`${prefix}/many-1:1`, `${prefix}/many-1:also`]);
    expect(imageById(ids.mid).sharedBytes).toBe(imageById(ids.mid).sizeBytes);
    expect(imageById(ids.many5).exclusiveBytes).toBeGreaterThan(0);
  });

  it('sizes every layer of these images as the layerdb, find and du do', async () => {
    const chains = new Set(
      inventory.images.filter((i) => i.labels['ballast.test.run'] === prefix).flatMap((i) => i.chainIds),
    );
    // base 3 + wh 2 + wh-classic 2 + mid 1 + one COPY per many-N image
    expect(chains.size).toBe(3 + 2 + 2 + 1 + MANY);
    for (const chainId of chains) {
      const layer = inventory.layers.find((l) => l.chainId === chainId);
      const dir = path.join(env.dataRoot, 'image/overlay2/layerdb/sha256', chainId.slice(7));
      expect(layer?.sizeBytes, chainId).toBe(Number(await sh('cat', [path.join(dir, 'size')])));
      const diff = path.join(env.dataRoot, 'overlay2', layer?.cacheId ?? '', 'diff');
      expect(layer?.apparentBytes, chainId).toBe(await dockerRuleBytes(diff));
      expect(layer?.allocatedBytes, chainId).toBe(await duAllocated(diff));
    }
  });

  it('counts a hard-linked file of an image layer once', async () => {
    const layer = topLayer(ids.base);
    const links = await sh('sh', ['-c', 'cd "$1" && stat -c "%i %h %n" h1 h2', 'sh', layer.diff]);
    const [a, b] = links
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    expect(a?.[0]).toBe(b?.[0]);
    expect(a?.[1]).toBe('2');
    expect(await namesBytes(layer.diff)).toBe((layer.apparentBytes ?? 0) + 40 * 1024);
  });

  it.each([
    ['BuildKit', 'wh'],
    ['classic builder', 'whClassic'],
  ])('sizes a %s layer holding a whiteout and an opaque directory', async (_builder, key) => {
    const layer = topLayer(ids[key]);
    expect(await whiteouts(layer.diff)).toEqual(['./gone 0:0']);
    expect(await isOpaque(path.join(layer.diff, 'd'))).toBe(true);
    expect(layer.apparentBytes).toBe(await dockerRuleBytes(layer.diff));
    expect(layer.allocatedBytes).toBe(await duAllocated(layer.diff));
    // Only /d/n ("new\n") has content; the whiteout and the directories weigh nothing.
    expect(layer.apparentBytes).toBe(4);
  });

  it.each(['running', 'stopped'])(
    'measures the %s writable layer with hard links, whiteouts and an opaque dir as SizeRw and du',
    async (name) => {
      const c = containerByName(name);
      const sized = await curlJson<Array<{ Id: string; SizeRw?: number }>>(
        env,
        api(`/containers/json?all=1&size=1&filters=${encodeURIComponent(JSON.stringify({ id: [c.id] }))}`),
      );
      const upper = (await docker(env, ['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', c.id])).trim();
      expect(c.writableBytes).toBe(sized[0]?.SizeRw ?? 0);
      expect(c.writableBytes).toBe(await dockerRuleBytes(upper));
      expect(c.writableAllocatedBytes).toBe(await duAllocated(upper));
      expect(await whiteouts(upper)).toEqual(['./d/n 0:0', './h2 0:0']);
      expect(await isOpaque(path.join(upper, 'keep'))).toBe(true);
      // /w/a has three names and /h1 two (copied up): each inode counted once.
      expect(await namesBytes(upper)).toBe((c.writableBytes ?? 0) + 2 * 300 * 1024 + 40 * 1024);
      expect(c.writableBytes).toBeGreaterThanOrEqual(300 * 1024 + 40 * 1024 + 'fresh\n'.length);
    },
  );

  it('reports the running container as running, with its named and anonymous volumes', async () => {
    const running = containerByName('running');
    expect(running.state).toBe('running');
    expect(running.imageId).toBe(ids.wh);
    const anonymous = (
      await docker(env, [
        'inspect',
        '-f',
        '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}',
        running.id,
      ])
    ).trim();
    expect([...running.volumeNames].sort()).toEqual([`${prefix}-vol`, anonymous].sort());
    expect(inventory.volumes.find((v) => v.name === anonymous)).toMatchObject({
      anonymous: true,
      containerIds: [running.id],
    });
    expect(containerByName('stopped').state).toBe('exited');
  });

  it('sizes volumes holding hard links as /system/df and du, each inode once', async () => {
    const running = containerByName('running');
    for (const name of running.volumeNames) {
      const v = inventory.volumes.find((x) => x.name === name);
      const d = df.Volumes.find((x) => x.Name === name);
      expect(v?.sizeBytes, name).toBe(d?.UsageData.Size);
      expect(v?.containerIds.length, name).toBe(d?.UsageData.RefCount);
      expect(v?.allocatedBytes, name).toBe(await duAllocated(v?.mountpoint ?? '/nonexistent'));
    }
    expect(inventory.volumes.find((v) => v.name === `${prefix}-vol`)?.sizeBytes).toBe(200 * 1024 + 2);
    expect(inventory.volumes.find((v) => v.anonymous && v.containerIds.includes(running.id))?.sizeBytes).toBe(
      100 * 1024,
    );
  });
});
