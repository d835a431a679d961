import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Inventory, ZInventory } from '@ballast/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_DIR,
  type DockerTestEnv,
  docker,
  dockerRuleBytes,
  requireDockerTestEnv,
  runCli,
  sh,
  tempDir,
} from '../../test/helpers.js';
import { DockerClient } from '../docker/client.js';
import { parseDockerHost } from '../docker/endpoint.js';
import { DEFAULT_HOST_PATHS } from '../host.js';
import { silentLogger } from '../log.js';
import { Scanner } from '../scanner.js';
import { StateStore } from '../state/store.js';
import { ContentAnalyzer } from './analyzer.js';
import { UNLIMITED_BUDGET } from './budget.js';
import { decodeEntry } from './records.js';

/*
 * The duplicate-content fixture (test/fixtures/make-dup-state.sh) has known answers; every
 * finding and byte count of `scan --json --analyze` is checked against the layer diff
 * directories themselves: stat, du --apparent-size, sha256sum, find, and the overlay xattr
 * read by python, none of which shares code with the agent.
 */

const FIXTURE = path.join(AGENT_DIR, 'test', 'fixtures', 'make-dup-state.sh');
const KiB = 1024;

let env: DockerTestEnv;
let stateDir: string;
let inventory: Inventory;
/** image tag → chainIDs, bottom first (computed here from the diffIDs docker reports). */
const chains = new Map<string, string[]>();
const diffIds = new Map<string, string[]>();
const imageIds = new Map<string, string>();

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function chainOf(ids: string[]): string[] {
  const out: string[] = [];
  for (const id of ids) out.push(out.length === 0 ? id : `sha256:${sha256(`${out[out.length - 1]} ${id}`)}`);
  return out;
}

function diffDir(chainId: string): string {
  const cacheId = readFileSync(
    path.join(env.dataRoot, 'image', 'overlay2', 'layerdb', 'sha256', chainId.slice(7), 'cache-id'),
    'utf8',
  ).trim();
  return path.join(env.dataRoot, 'overlay2', cacheId, 'diff');
}

const layer = (tag: string, index: number) => chains.get(tag)?.[index] as string;

async function statSize(file: string): Promise<number> {
  return Number((await sh('stat', ['-c', '%s', file])).trim());
}

/** `du -b --apparent-size -c`: total apparent bytes of the given files. */
async function duApparent(files: string[]): Promise<number> {
  const out = await sh('du', ['-b', '--apparent-size', '-c', ...files]);
  const total = out.trim().split('\n').pop() as string;
  return Number(total.split('\t')[0]);
}

async function sha256sum(file: string): Promise<string> {
  return `sha256:${(await sh('sha256sum', [file])).split(' ')[0]}`;
}

function records(chainId: string) {
  return readFileSync(path.join(stateDir, 'content', 'layers', `${chainId.slice(7)}.records`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(decodeEntry);
}

function openScanner(dir: string, analyzer: ContentAnalyzer) {
  const client = new DockerClient(parseDockerHost(env.host));
  return StateStore.open(dir, silentLogger).then((store) => ({
    client,
    scanner: new Scanner({
      client,
      store,
      log: silentLogger,
      hostPaths: DEFAULT_HOST_PATHS,
      hostLabels: {},
      dataRootOverride: env.dataRoot,
      mountInfoPath: '/proc/self/mountinfo',
      analyzer,
    }),
  }));
}

const TAGS = ['dup/copy-a:1', 'dup/copy-b:1', 'dup/unrel-x:1', 'dup/unrel-y:1', 'dup/waste:1'];

beforeAll(async () => {
  env = requireDockerTestEnv();
  await sh('bash', [FIXTURE], { DOCKER_HOST: env.host, CLEAN: '1' });
  for (const tag of TAGS) {
    const [id, layers] = (await docker(env, ['image', 'inspect', '-f', '{{.Id}} {{json .RootFS.Layers}}', tag]))
      .trim()
      .split(' ') as [string, string];
    imageIds.set(tag, id);
    diffIds.set(tag, JSON.parse(layers) as string[]);
    chains.set(tag, chainOf(JSON.parse(layers) as string[]));
  }
  stateDir = await tempDir('analysis');
  const run = runCli(['scan', '--json', '--analyze', '--state-dir', stateDir, '--data-root', env.dataRoot], {
    env: { DOCKER_HOST: env.host },
  });
  const result = await run.done;
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  inventory = ZInventory.parse(JSON.parse(result.stdout));
});

afterAll(async () => {
  if (env) {
    const ids = (await docker(env, ['images', '-q', '--no-trunc', '--filter', 'label=fixture=dup'])).split('\n');
    const unique = [...new Set(ids.filter(Boolean))];
    if (unique.length > 0) await docker(env, ['rmi', '-f', ...unique]);
  }
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

const fixtureChains = () => new Set([...chains.values()].flat());

describe('scan --json --analyze on the duplicate-content fixture', () => {
  it('hashes every layer in the layerdb', () => {
    const layerdb = readdirSync(path.join(env.dataRoot, 'image', 'overlay2', 'layerdb', 'sha256'));
    expect(inventory.duplicates?.analyzedLayers).toBe(layerdb.length);
    expect(inventory.duplicates?.pendingLayers).toBe(0);
    expect(inventory.duplicates?.minFileBytes).toBe(64 * KiB);
    expect(inventory.collectors.find((c) => c.name === 'content-analysis')).toMatchObject({ ok: true });
  });

  it('finds the same files built at other times as one duplicate layer under two chainIDs', async () => {
    const a = layer('dup/copy-a:1', 0);
    const b = layer('dup/copy-b:1', 0);
    // Other mtimes and owners: Docker stores them as different layers.
    expect(diffIds.get('dup/copy-a:1')).not.toEqual(diffIds.get('dup/copy-b:1'));
    expect(a).not.toBe(b);
    const mine = (inventory.duplicates?.layers ?? []).filter((l) => l.chainIds.some((id) => fixtureChains().has(id)));
    expect(mine).toHaveLength(1);
    const group = mine[0];
    expect(group?.chainIds).toEqual([a, b].sort());
    const oneCopy = await duApparent([
      path.join(diffDir(a), 'data', 'shared.bin'),
      path.join(diffDir(a), 'data', 'readme.txt'),
    ]);
    expect(oneCopy).toBe(256 * KiB + 27);
    expect(await dockerRuleBytes(diffDir(a))).toBe(oneCopy);
    expect(await dockerRuleBytes(diffDir(b))).toBe(oneCopy);
    expect(group?.bytes).toBe(oneCopy);
    expect(group?.wastedBytes).toBe(oneCopy);
  });

  it('finds one file stored in two unrelated images, and the copies inside the duplicate layers', async () => {
    const x = layer('dup/unrel-x:1', 0);
    const y = layer('dup/unrel-y:1', 0);
    const xFile = path.join(diffDir(x), 'opt', 'x', 'big.bin');
    const yFile = path.join(diffDir(y), 'srv', 'y', 'copy-of-big.bin');
    const hash = await sha256sum(xFile);
    expect(await sha256sum(yFile)).toBe(hash);
    const mine = (inventory.duplicates?.files ?? []).filter((f) =>
      f.copies.some((c) => fixtureChains().has(c.chainId)),
    );
    expect(mine.map((f) => f.contentHash).sort()).toEqual(
      [hash, await sha256sum(path.join(diffDir(layer('dup/copy-a:1', 0)), 'data', 'shared.bin'))].sort(),
    );
    const big = mine.find((f) => f.contentHash === hash);
    expect(big?.bytes).toBe(await statSize(xFile));
    expect(big?.bytes).toBe(192 * KiB);
    expect(big?.wastedBytes).toBe(192 * KiB);
    expect(big?.copyCount).toBe(2);
    expect(big?.copies).toEqual(
      [
        { chainId: x, path: '/opt/x/big.bin' },
        { chainId: y, path: '/srv/y/copy-of-big.bin' },
      ].sort((p, q) => p.chainId.localeCompare(q.chainId)),
    );
    // The unrelated layers are not duplicates of each other.
    expect((inventory.duplicates?.layers ?? []).some((l) => l.chainIds.includes(x) || l.chainIds.includes(y))).toBe(
      false,
    );
  });

  it('counts a hard-linked file once: hashed once, never a duplicate of itself', async () => {
    const base = layer('dup/waste:1', 0);
    const one = path.join(diffDir(base), 'h', 'one');
    expect((await sh('stat', ['-c', '%h %i', one])).trim()).toBe(
      (await sh('stat', ['-c', '%h %i', path.join(diffDir(base), 'h', 'two')])).trim(),
    );
    expect((await sh('stat', ['-c', '%h', one])).trim()).toBe('2');
    const hash = await sha256sum(one);
    expect((inventory.duplicates?.files ?? []).some((f) => f.contentHash === hash)).toBe(false);
    const entries = records(base);
    expect(entries.find((e) => e.path === '/h/one')).toMatchObject({
      type: 'f',
      size: 100 * KiB,
      payload: hash.slice(7),
    });
    expect(entries.find((e) => e.path === '/h/two')).toMatchObject({ type: 'h', payload: '/h/one' });
    const summary = JSON.parse(
      readFileSync(path.join(stateDir, 'content', 'layers', `${base.slice(7)}.json`), 'utf8'),
    ) as { regularBytes: number; hashedFiles: number };
    // find + sort -u by inode: each inode once.
    expect(summary.regularBytes).toBe(await dockerRuleBytes(diffDir(base)));
    expect(summary.hashedFiles).toBe(
      Number(
        (await sh('sh', ['-c', 'find "$1" -type f -printf "%i\\n" | sort -u | wc -l', 'sh', diffDir(base)])).trim(),
      ),
    );
  });

  it('recognises overlay2 whiteouts and opaque directories', async () => {
    const upper = layer('dup/waste:1', 1);
    const dir = diffDir(upper);
    expect((await sh('stat', ['-c', '%F %t:%T', path.join(dir, 'app', 'del.bin')])).trim()).toBe(
      'character special file 0:0',
    );
    expect((await sh('stat', ['-c', '%F %t:%T', path.join(dir, 'gone')])).trim()).toBe('character special file 0:0');
    const xattr = await sh('python3', [
      '-c',
      'import os, sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())',
      path.join(dir, 'opq'),
    ]);
    expect(xattr.trim()).toBe('y');
    const entries = records(upper);
    expect(entries.find((e) => e.path === '/app/del.bin')).toEqual({
      path: '/app/del.bin',
      type: 'w',
      mode: 0,
      size: 0,
      payload: '',
    });
    expect(entries.find((e) => e.path === '/gone')).toMatchObject({ type: 'w' });
    expect(entries.find((e) => e.path === '/opq')).toMatchObject({ type: 'd', payload: 'opaque' });
    expect(entries.find((e) => e.path === '/app')).toMatchObject({ type: 'd', payload: '' });
  });

  it('reports waste inside an image: only the redundant copies, never the surviving one', async () => {
    const [l1, l2, l3] = [0, 1, 2].map((i) => layer('dup/waste:1', i)) as [string, string, string];
    const redundant: Array<[string, string, string]> = [
      [l1, '/app/a.bin', 'overwritten'],
      [l2, '/app/a.bin', 'overwritten'],
      [l1, '/app/del.bin', 'deleted'],
      [l1, '/gone/dir/f.bin', 'deleted'],
      [l1, '/opq/old.bin', 'opaque'],
      [l1, '/opq/sub/old2.bin', 'opaque'],
    ];
    const expectedBytes = await duApparent(redundant.map(([chain, p]) => path.join(diffDir(chain), p)));
    expect(expectedBytes).toBe((300 + 310 + 200 + 30 + 70 + 10) * KiB);
    const waste = inventory.waste?.find((w) => w.imageId === imageIds.get('dup/waste:1'));
    expect(waste?.wastedBytes).toBe(expectedBytes);
    expect(waste?.itemCount).toBe(redundant.length);
    const items = waste?.items.map((i) => [i.chainId, i.path, i.reason, i.bytes]);
    const expectedItems = await Promise.all(
      redundant.map(async ([chain, p, reason]) => [chain, p, reason, await statSize(path.join(diffDir(chain), p))]),
    );
    expect(items?.slice().sort()).toEqual(expectedItems.slice().sort());
    // The visible copy (top layer) and files no upper layer touches are not waste.
    expect(waste?.items.some((i) => i.chainId === l3)).toBe(false);
    expect(waste?.items.some((i) => ['/keep.bin', '/h/one', '/h/two', '/opq/new.bin'].includes(i.path))).toBe(false);
    // Images whose upper layers change nothing have no waste entry.
    for (const tag of TAGS.filter((t) => t !== 'dup/waste:1')) {
      expect(inventory.waste?.some((w) => w.imageId === imageIds.get(tag))).toBe(false);
    }
  });
});

describe('the make-docker-state.sh fixture', () => {
  it('counts 3 MiB overwritten and 2 MiB deleted in fx/app-b:1, where dive reports 8,388,608', async () => {
    const [id, layers] = (
      await docker(env, ['image', 'inspect', '-f', '{{.Id}} {{json .RootFS.Layers}}', 'fx/app-b:1'])
    )
      .trim()
      .split(' ') as [string, string];
    const chain = chainOf(JSON.parse(layers) as string[]);
    // Oracle: a regular file of a layer is redundant when an upper layer has any entry at its path.
    const listings = await Promise.all(
      chain.map(async (c) =>
        (await sh('find', [diffDir(c), '-mindepth', '1', '-printf', '%y %s %P\\n']))
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [type, size, ...rest] = line.split(' ');
            return { type, size: Number(size), path: `/${rest.join(' ')}` };
          }),
      ),
    );
    let expected = 0;
    listings.forEach((entries, i) => {
      const above = new Set(listings.slice(i + 1).flatMap((l) => l.map((e) => e.path)));
      for (const e of entries) if (e.type === 'f' && above.has(e.path)) expected += e.size;
    });
    expect(expected).toBe(3 * 1024 * KiB + 2 * 1024 * KiB);
    const scan = await openScanner(stateDir, new ContentAnalyzer(stateDir, UNLIMITED_BUDGET));
    try {
      const inv = await scan.scanner.scanOnce();
      const waste = inv.waste?.find((w) => w.imageId === id);
      expect(waste?.wastedBytes).toBe(expected);
      expect(waste?.items.map((i) => [i.path, i.reason]).sort()).toEqual([
        ['/opt/b.bin', 'overwritten'],
        ['/tmp/junk', 'deleted'],
      ]);
    } finally {
      scan.client.close();
    }
  });
});

describe('the content cache', () => {
  it('rehashes nothing on the next scan: layers are cached by chainID', async () => {
    const before = await sh('sh', ['-c', 'stat -c "%n %i %Y" "$1"/content/layers/*', 'sh', stateDir]);
    const analyzer = new ContentAnalyzer(stateDir, UNLIMITED_BUDGET);
    const { client, scanner } = await openScanner(stateDir, analyzer);
    try {
      const again = await scanner.scanOnce();
      expect(analyzer.lastPass).toMatchObject({ layersHashed: 0, filesHashed: 0, bytesHashed: 0, layersPending: 0 });
      expect(again.duplicates).toEqual(inventory.duplicates);
      expect(again.waste).toEqual(inventory.waste);
    } finally {
      client.close();
    }
    expect(await sh('sh', ['-c', 'stat -c "%n %i %Y" "$1"/content/layers/*', 'sh', stateDir])).toBe(before);
  });

  it('after a crash mid-layer, drops the partial files and hashes only that layer again', async () => {
    const base = layer('dup/waste:1', 0);
    const layersDir = path.join(stateDir, 'content', 'layers');
    await rm(path.join(layersDir, `${base.slice(7)}.json`));
    await writeFile(path.join(layersDir, `${base.slice(7)}.records.12345.tmp`), '["/app","d",493');
    const analyzer = new ContentAnalyzer(stateDir, UNLIMITED_BUDGET);
    const { client, scanner } = await openScanner(stateDir, analyzer);
    try {
      const again = await scanner.scanOnce();
      const files = Number(
        (await sh('sh', ['-c', 'find "$1" -type f -printf "%i\\n" | sort -u | wc -l', 'sh', diffDir(base)])).trim(),
      );
      expect(analyzer.lastPass).toMatchObject({ layersHashed: 1, filesHashed: files });
      expect(analyzer.lastPass?.bytesHashed).toBe(await dockerRuleBytes(diffDir(base)));
      expect(again.duplicates).toEqual(inventory.duplicates);
    } finally {
      client.close();
    }
    expect(readdirSync(layersDir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('hashes a layer again when its records file is shorter than its summary says', async () => {
    const base = layer('dup/waste:1', 0);
    await truncate(path.join(stateDir, 'content', 'layers', `${base.slice(7)}.records`), 10);
    const analyzer = new ContentAnalyzer(stateDir, UNLIMITED_BUDGET);
    const { client, scanner } = await openScanner(stateDir, analyzer);
    try {
      const again = await scanner.scanOnce();
      expect(analyzer.lastPass).toMatchObject({ layersHashed: 1 });
      expect(again.duplicates).toEqual(inventory.duplicates);
      expect(again.waste).toEqual(inventory.waste);
    } finally {
      client.close();
    }
  });

  it('forgets a layer once it leaves the host, and its duplicate with it', async () => {
    const a = layer('dup/copy-a:1', 0);
    const b = layer('dup/copy-b:1', 0);
    await docker(env, ['rmi', 'dup/copy-b:1']);
    const layerdb = path.join(env.dataRoot, 'image', 'overlay2', 'layerdb', 'sha256');
    expect(readdirSync(layerdb)).not.toContain(b.slice(7));
    const analyzer = new ContentAnalyzer(stateDir, UNLIMITED_BUDGET);
    const { client, scanner } = await openScanner(stateDir, analyzer);
    try {
      const again = await scanner.scanOnce();
      expect(analyzer.lastPass).toMatchObject({ layersHashed: 0, filesHashed: 0 });
      expect(again.duplicates?.layers.some((l) => l.chainIds.includes(a) || l.chainIds.includes(b))).toBe(false);
      expect(again.duplicates?.analyzedLayers).toBe(readdirSync(layerdb).length);
    } finally {
      client.close();
    }
    const cached = readdirSync(path.join(stateDir, 'content', 'layers'));
    expect(cached).toContain(`${a.slice(7)}.records`);
    expect(cached.filter((n) => n.startsWith(b.slice(7)))).toEqual([]);
  });

  it('starts no layer once the pass budget is spent, and says how many are pending', async () => {
    const fresh = await tempDir('analysis-budget');
    const analyzer = new ContentAnalyzer(fresh, { bytesPerSecond: 64 * 1024 * 1024, passSeconds: 0 });
    const { client, scanner } = await openScanner(fresh, analyzer);
    try {
      const inv = await scanner.scanOnce();
      const layerdb = readdirSync(path.join(env.dataRoot, 'image', 'overlay2', 'layerdb', 'sha256'));
      expect(inv.duplicates).toMatchObject({ analyzedLayers: 0, pendingLayers: layerdb.length, layers: [], files: [] });
      expect(analyzer.lastPass).toMatchObject({ layersHashed: 0, layersPending: layerdb.length });
    } finally {
      client.close();
      await rm(fresh, { recursive: true, force: true });
    }
  });
});
