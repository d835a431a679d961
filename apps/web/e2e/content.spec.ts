import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { dataRoot } from './oracle';
import { setUpFirstAdmin } from './session';
import { requireEnv, type Stack, startStack } from './stack';

/*
 * The agent's content analysis, end to end: `ballast-agent run` (analysis on by default)
 * hashes the fixture's layers, and the host page and the images page show what the layer diff
 * directories say, measured here with find (apparent sizes of regular files).
 */

let stack: Stack;
const dockerHost = requireEnv('BALLAST_TEST_DOCKER_HOST');
const docker = (...args: string[]) => execFileSync('docker', ['-H', dockerHost, ...args], { encoding: 'utf8' });
const root = dataRoot(dockerHost);

function chainOf(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const id of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev ? `sha256:${createHash('sha256').update(`${prev} ${id}`).digest('hex')}` : id);
  }
  return out;
}

function diffDir(chainId: string): string {
  const cacheId = readFileSync(
    path.join(root, 'image', 'overlay2', 'layerdb', 'sha256', chainId.slice(7), 'cache-id'),
    'utf8',
  ).trim();
  return path.join(root, 'overlay2', cacheId, 'diff');
}

/** path → [type, size] of every entry of a layer diff dir. */
function listing(chainId: string): Map<string, [string, number]> {
  const out = execFileSync('find', [diffDir(chainId), '-mindepth', '1', '-printf', '%y %s /%P\\n'], {
    encoding: 'utf8',
  });
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [type, size, ...rest] = line.split(' ');
        return [rest.join(' '), [type as string, Number(size)]];
      }),
  );
}

function image(tag: string) {
  const [id, layers] = docker('image', 'inspect', '-f', '{{.Id}} {{json .RootFS.Layers}}', tag).trim().split(' ') as [
    string,
    string,
  ];
  return { id, chain: chainOf(JSON.parse(layers) as string[]) };
}

test.beforeAll(async () => {
  stack = await startStack();
});

test.afterAll(async () => {
  await stack?.stop();
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright requires a destructuring pattern for fixtures.
test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    await testInfo.attach('stack-logs', { body: stack.logs.join('\n'), contentType: 'text/plain' });
  }
});

test('the host and images pages show duplicate layers and image waste as the layer directories hold them', async ({
  page,
}) => {
  // fx/app-b:1: a 3 MiB file overwritten by an upper layer and a 2 MiB file deleted by one.
  const appB = image('fx/app-b:1');
  const layers = appB.chain.map(listing);
  let expectedWaste = 0;
  layers.forEach((entries, i) => {
    const above = new Set(layers.slice(i + 1).flatMap((l) => [...l.keys()]));
    for (const [p, [type, size]] of entries) if (type === 'f' && above.has(p)) expectedWaste += size;
  });
  expect(expectedWaste).toBe(5 * 1024 * 1024);
  // fx/base:1 (BuildKit) and fx/legacy:1 (classic builder) both start with the same busybox
  // layer content under different layer IDs.
  const baseLayer = image('fx/base:1').chain[0] as string;
  const legacyLayer = image('fx/legacy:1').chain[0] as string;
  expect(baseLayer).not.toBe(legacyLayer);
  const oneCopy = [...listing(baseLayer).values()].filter(([t]) => t === 'f').reduce((s, [, size]) => s + size, 0);
  expect(oneCopy).toBe([...listing(legacyLayer).values()].filter(([t]) => t === 'f').reduce((s, [, n]) => s + n, 0));

  await setUpFirstAdmin(page, stack.url);
  const row = page.getByTestId(`host-row-${hostname()}`);
  await expect(row).toBeVisible({ timeout: 60_000 });
  const hostId = await row.getAttribute('data-host-id');

  await page.goto(`${stack.url}/hosts/${hostId}`);
  const content = page.getByTestId('host-content');
  const wasteRow = content.locator(`[data-testid="image-waste-row"][data-image-id="${appB.id}"]`);
  await expect(async () => {
    await page.reload();
    await expect(wasteRow).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 120_000 });
  await expect(wasteRow.getByTestId('image-waste-bytes')).toHaveAttribute('data-bytes', String(expectedWaste));
  await expect(wasteRow).toContainText('/opt/b.bin overwritten');
  await expect(wasteRow).toContainText('/tmp/junk deleted');
  const duplicate = content.getByTestId('duplicate-layer-row').filter({ hasText: 'fx/legacy:1' });
  await expect(duplicate).toContainText('fx/base:1');
  await expect(duplicate.getByTestId('duplicate-layer-wasted')).toHaveAttribute('data-bytes', String(oneCopy));
  await page.screenshot({ path: 'test-results/host-content.png', fullPage: true });

  await page.goto(`${stack.url}/images`);
  const fleet = page.getByTestId('fleet-content');
  const fleetRow = fleet.getByTestId('fleet-duplicate-layer-row').filter({ hasText: 'fx/legacy:1' });
  await expect(fleetRow.getByTestId('fleet-duplicate-layer-hosts')).toHaveText('1');
  await expect(fleetRow.getByTestId('fleet-duplicate-layer-wasted')).toHaveAttribute('data-bytes', String(oneCopy));
  await expect(fleet.locator(`[data-testid="fleet-image-waste-row"][data-image-id="${appB.id}"]`)).toContainText(
    'fx/app-b:1',
  );
});
