import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import { expect, type Locator, type Page, test } from '@playwright/test';
import { engineApi } from './oracle';
import { setUpFirstAdmin } from './session';
import { requireEnv, type Stack, startStack } from './stack';

let stack: Stack;
const dockerHost = requireEnv('BALLAST_TEST_DOCKER_HOST');
// Named for this spec alone: the fixture's objects on the shared engine are never touched.
const liveContainer = 'ballast-e2e-dashboard-live';
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

interface DfImage {
  Id: string;
  Size: number;
  SharedSize: number;
}
interface DfVolume {
  Name: string;
  UsageData: { Size: number } | null;
}

/** `docker system df -v` by the Engine API: each image's UNIQUE SIZE and each volume's size. */
function engineFigures() {
  const df = engineApi<{ Images: DfImage[]; Volumes: DfVolume[] }>(dockerHost, '/system/df');
  return {
    uniqueByImage: Object.fromEntries(df.Images.map((i) => [i.Id, i.Size - Math.max(0, i.SharedSize)])),
    sizeByVolume: Object.fromEntries(df.Volumes.map((v) => [v.Name, v.UsageData?.Size ?? -1])),
  };
}

async function pageFigures(page: Page) {
  const images: Record<string, number> = {};
  for (const row of await page.getByTestId('image-row').all()) {
    const id = await row.getAttribute('data-image-id');
    if (id) images[id] = await bytesOf(row.getByTestId('image-exclusive'));
  }
  const volumes: Record<string, number> = {};
  for (const row of await page.getByTestId('volume-row').all()) {
    const name = await row.getAttribute('data-volume-name');
    if (name) volumes[name] = await bytesOf(row.getByTestId('volume-size'));
  }
  return { images, volumes };
}

test('every dashboard page renders, and the host page matches what the engine reports', async ({ page }) => {
  await setUpFirstAdmin(page, stack.url);
  const row = page.getByTestId(`host-row-${hostname()}`);
  await expect(row).toBeVisible({ timeout: 60_000 });
  const hostId = await row.getAttribute('data-host-id');
  expect(hostId).toBeTruthy();

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
  await expect(page.getByRole('heading', { name: 'Fleet overview' })).toBeVisible();
  await expect(page.getByTestId('fleet-used').locator('[data-bytes]').first()).toHaveAttribute('data-bytes', /^\d+$/);
  await expect(page.getByTestId('fleet-reclaimable').locator('[data-bytes]')).toHaveAttribute('data-bytes', /^\d+$/);
  await expect(page.getByText('How these numbers are measured')).toBeVisible();
  await page.screenshot({ path: 'test-results/overview.png', fullPage: true });

  await page.goto(`${stack.url}/opportunities`);
  await expect(page.getByRole('heading', { name: 'Opportunities' })).toBeVisible();
  const opportunityRows = page.getByTestId('opportunity-row');
  await expect(opportunityRows.first()).toBeVisible();
  // Sorting by bytes ascending through the keyboard reorders the table.
  const bytesHeader = page
    .getByRole('table', { name: 'Opportunities', exact: true })
    .getByRole('columnheader', { name: /Reclaimable/ });
  await bytesHeader.getByRole('button').focus();
  await page.keyboard.press('Enter');
  await expect(bytesHeader).toHaveAttribute('aria-sort', 'descending');
  await page.keyboard.press('Enter');
  await expect(bytesHeader).toHaveAttribute('aria-sort', 'ascending');
  await expect
    .poll(async () => {
      const values = await Promise.all(
        (await page.getByTestId('reclaimable-bytes').all()).map((cell) => bytesOf(cell)),
      );
      return values.every((v, i) => i === 0 || (values[i - 1] ?? 0) <= v);
    })
    .toBe(true);
  // One host: the default selection mixes kinds, so no campaign can be planned from it.
  await expect(page.getByRole('button', { name: 'Plan campaign' })).toBeDisabled();
  await page.screenshot({ path: 'test-results/opportunities.png', fullPage: true });

  await page.goto(`${stack.url}/hosts/${hostId}`);
  await expect(page.getByTestId('host-name')).toHaveText(hostname());
  await expect(page.getByTestId('image-row').first()).toBeVisible();
  // Other test runs may add their own objects to the engine between two reads, so compare
  // the objects both sides list, and retry until one snapshot and one engine read agree.
  await expect
    .poll(
      async () => {
        await page.reload();
        await expect(page.getByTestId('image-row').first()).toBeVisible();
        const shown = await pageFigures(page);
        const engine = engineFigures();
        const imageIds = Object.keys(shown.images).filter((id) => id in engine.uniqueByImage);
        const volumeNames = Object.keys(shown.volumes).filter((name) => name in engine.sizeByVolume);
        return {
          imagesCompared: imageIds.length > 0 && imageIds.length === Object.keys(engine.uniqueByImage).length,
          volumesCompared: volumeNames.length > 0,
          images: Object.fromEntries(imageIds.map((id) => [id, shown.images[id]])),
          expectedImages: Object.fromEntries(imageIds.map((id) => [id, engine.uniqueByImage[id]])),
          volumes: Object.fromEntries(volumeNames.map((n) => [n, shown.volumes[n]])),
          expectedVolumes: Object.fromEntries(volumeNames.map((n) => [n, engine.sizeByVolume[n]])),
        };
      },
      { timeout: 60_000, intervals: [5_000] },
    )
    .toEqual(
      expect.objectContaining({
        imagesCompared: true,
        volumesCompared: true,
      }),
    );
  const shown = await pageFigures(page);
  const engine = engineFigures();
  for (const [id, bytes] of Object.entries(shown.images)) {
    if (id in engine.uniqueByImage) expect(bytes, `exclusive bytes of ${id}`).toBe(engine.uniqueByImage[id]);
  }
  for (const [name, bytes] of Object.entries(shown.volumes)) {
    if (name in engine.sizeByVolume) expect(bytes, `size of volume ${name}`).toBe(engine.sizeByVolume[name]);
  }
  await expect(page.getByRole('img', { name: /Bytes by category/ })).toBeVisible();
  await expect(page.getByRole('img', { name: /Disk used over/ })).toBeVisible();
  await page.screenshot({ path: 'test-results/host-detail.png', fullPage: true });

  // The open page picks up the agent's next snapshot by itself: a new container appears.
  docker(
    'run',
    '--name',
    liveContainer,
    '--network',
    'none',
    'fx/base:1',
    'sh',
    '-c',
    'yes ballast-dashboard | head -n 500',
  );
  const liveId = docker('inspect', '--format', '{{.Id}}', liveContainer).trim();
  const liveRow = page.locator(`[data-testid="container-row"][data-container-id="${liveId}"]`);
  await expect(liveRow).toBeVisible({ timeout: 30_000 });
  await expect(liveRow.getByTestId('container-logs')).toHaveAttribute('data-bytes', /^[1-9]\d*$/);

  await page.goto(`${stack.url}/images`);
  await expect(page.getByRole('heading', { name: 'Images' })).toBeVisible();
  const imageRows = page.getByTestId('fleet-image-row');
  await expect(imageRows.first()).toBeVisible();
  const firstImageId = await imageRows.first().getAttribute('data-image-id');
  expect(firstImageId && firstImageId in engine.uniqueByImage).toBe(true);
  await expect(imageRows.first().getByTestId('fleet-image-hosts')).toHaveText('1');
  await page.screenshot({ path: 'test-results/images.png', fullPage: true });

  await page.goto(`${stack.url}/settings/savings`);
  await expect(page.getByRole('heading', { name: 'Savings policy' })).toBeVisible();
  const price = page.getByLabel('Price per GB-month');
  await price.fill('0.25');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Saved' })).toBeVisible();
  await page.reload();
  await expect(page.getByLabel('Price per GB-month')).toHaveValue('0.25');
  await page.screenshot({ path: 'test-results/settings-savings.png', fullPage: true });
});
