import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { expect, type Locator, test } from '@playwright/test';
import { containerLogBytes, dataRoot, dockerSystemDf, statfs } from './oracle';
import { setUpFirstAdmin } from './session';
import { requireEnv, type Stack, startStack } from './stack';

let stack: Stack;
const dockerHost = requireEnv('BALLAST_TEST_DOCKER_HOST');
const liveContainer = 'ballast-e2e-live';

const docker = (...args: string[]) => execFileSync('docker', ['-H', dockerHost, ...args], { encoding: 'utf8' });

test.beforeAll(async () => {
  stack = await startStack();
});

test.afterAll(async () => {
  try {
    docker('rm', '-f', liveContainer);
  } catch {}
  await stack?.stop();
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright requires a destructuring pattern for fixtures.
test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    await testInfo.attach('stack-logs', { body: stack.logs.join('\n'), contentType: 'text/plain' });
  }
});

async function bytesOf(cell: Locator): Promise<number> {
  const value = await cell.getAttribute('data-bytes');
  if (value === null) throw new Error('figure not measured');
  return Number(value);
}

test('the local host appears with the totals Docker and statfs report, and updates live', async ({ page }) => {
  // Setup makes the admin a member of the default organization, where shared-token agents report.
  await setUpFirstAdmin(page, stack.url);
  const row = page.getByTestId(`host-row-${hostname()}`);
  await expect(row).toBeVisible({ timeout: 60_000 });
  await expect(row.getByTestId('build-cache-bytes')).toHaveAttribute('data-bytes', /\d+/);
  await expect(row.getByTestId('status')).toHaveText('connected');

  const root = dataRoot(dockerHost);
  const df = dockerSystemDf(dockerHost);
  expect(await bytesOf(row.getByTestId('images-bytes'))).toBe(df.imagesBytes);
  expect(await bytesOf(row.getByTestId('containers-bytes'))).toBe(df.containersBytes);
  expect(await bytesOf(row.getByTestId('volumes-bytes'))).toBe(df.volumesBytes);
  expect(await bytesOf(row.getByTestId('build-cache-bytes'))).toBe(df.buildCacheBytes);
  expect(await bytesOf(row.getByTestId('logs-bytes'))).toBe(containerLogBytes(root));
  expect(df.imagesBytes).toBeGreaterThan(0);

  // The disk is live (other processes write to it), so used/free may drift slightly
  // between the agent's statfs and this one; the size cannot.
  const fs = statfs(root);
  const used = await bytesOf(row.getByTestId('fs-used-bytes'));
  const free = await bytesOf(row.getByTestId('fs-free-bytes'));
  expect(Math.abs(used - fs.usedBytes)).toBeLessThan(256 * 1024 * 1024);
  expect(Math.abs(free - fs.freeBytes)).toBeLessThan(256 * 1024 * 1024);
  await page.screenshot({ path: 'test-results/hosts.png', fullPage: true });

  // A new container writing logs shows up on the open page at the agent's next interval.
  const before = await bytesOf(row.getByTestId('logs-bytes'));
  docker(
    'run',
    '--name',
    liveContainer,
    '--network',
    'none',
    'fx/base:1',
    'sh',
    '-c',
    'yes ballast-live-line | head -n 2000',
  );
  const expected = containerLogBytes(root);
  expect(expected).toBeGreaterThan(before);
  await expect(row.getByTestId('logs-bytes')).toHaveAttribute('data-bytes', String(expected), { timeout: 30_000 });
  await page.screenshot({ path: 'test-results/hosts-live.png', fullPage: true });
});
