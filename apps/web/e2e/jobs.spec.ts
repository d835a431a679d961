// The remediation flow as an operator meets it, against the real server, a real agent and the
// test dockerd: opportunity → Plan → plan preview → Approve → live progress → result → audit.
// Runs after the other specs (files run in name order): it removes the fixture's dangling images.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { engineApi } from './oracle';
import { setUpFirstAdmin } from './session';
import { requireEnv, type Stack, startStack } from './stack';

let stack: Stack;
const dockerHost = requireEnv('BALLAST_TEST_DOCKER_HOST');
const docker = (args: string[], input?: Buffer) =>
  execFileSync('docker', ['-H', dockerHost, ...args], { encoding: 'utf8', ...(input && { input }) });
const TAG = 'ballast-e2e-jobs:dangling';

interface EngineImage {
  Id: string;
  RepoTags: string[] | null;
}
interface EngineContainer {
  ImageID: string;
}

/** Dangling images no container (in any state) uses, by the Engine API: what the plan must list. */
function removableDangling(): Set<string> {
  const dangling = engineApi<EngineImage[]>(
    dockerHost,
    `/images/json?filters=${encodeURIComponent(JSON.stringify({ dangling: ['true'] }))}`,
  );
  const used = new Set(engineApi<EngineContainer[]>(dockerHost, '/containers/json?all=1').map((c) => c.ImageID));
  return new Set(dangling.map((i) => i.Id).filter((id) => !used.has(id)));
}

/** Two imports under one tag: the first becomes a dangling image of this spec's own. */
function makeDanglingImage() {
  const dir = mkdtempSync(path.join(tmpdir(), 'ballast-e2e-jobs-'));
  try {
    for (const n of [1, 2]) {
      writeFileSync(path.join(dir, 'payload'), `payload ${n} ${Date.now()}\n`.repeat(4096));
      const tar = execFileSync('tar', ['-c', '-C', dir, 'payload']);
      docker(['import', '-', TAG], tar);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test.beforeAll(async () => {
  makeDanglingImage();
  stack = await startStack();
});

test.afterAll(async () => {
  try {
    docker(['rmi', '-f', TAG]);
  } catch {}
  await stack?.stop();
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright requires a destructuring pattern for fixtures.
test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    await testInfo.attach('stack-logs', { body: stack.logs.join('\n'), contentType: 'text/plain' });
  }
});

test('an opportunity becomes a plan, is approved, and removes exactly the planned images', async ({ page }) => {
  await setUpFirstAdmin(page, stack.url);
  await expect(page.getByTestId(`host-row-${hostname()}`)).toBeVisible({ timeout: 60_000 });

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Opportunities' }).click();
  const row = page.locator('[data-testid="opportunity-row"][data-kind="images.dangling"]');
  await expect(row).toBeVisible({ timeout: 60_000 });
  const expected = removableDangling();
  expect(expected.size).toBeGreaterThanOrEqual(1);

  await row.getByRole('button', { name: /^Plan / }).click();
  await expect(page).toHaveURL(/\/jobs\/job_/);
  const jobId = page.url().split('/jobs/')[1] ?? '';
  await expect(page.getByRole('heading', { name: 'Remove dangling images' })).toBeVisible();

  // The plan appears without a reload once the agent answers.
  const plan = page.getByRole('region', { name: 'Plan' });
  await expect(plan).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('job-state')).toHaveAttribute('data-state', 'planned');
  await page.screenshot({ path: 'test-results/job-plan.png', fullPage: true });
  const planned = plan.getByRole('table', { name: 'Planned objects' }).getByTestId('object-row');
  const plannedIds = new Set(await planned.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-object-id'))));
  expect(plannedIds).toEqual(expected);
  let plannedSum = 0;
  for (const bytes of await planned.locator('[data-bytes]').all()) {
    plannedSum += Number(await bytes.getAttribute('data-bytes'));
  }
  expect(Number(await page.getByTestId('plan-total-bytes').getAttribute('data-bytes'))).toBe(plannedSum);

  await page.getByRole('button', { name: 'Approve' }).click();
  await expect(page.getByTestId('job-state')).toHaveAttribute('data-state', /^(succeeded|partial)$/, {
    timeout: 120_000,
  });
  await page.screenshot({ path: 'test-results/job-result.png', fullPage: true });

  // The engine no longer has any image the result reports done; nothing else was planned.
  const result = page.getByRole('table', { name: 'Per-object result' }).getByTestId('object-row');
  const done: string[] = [];
  let doneBytes = 0;
  for (const r of await result.all()) {
    if ((await r.getByTestId('item-outcome').textContent())?.startsWith('done')) {
      done.push((await r.getAttribute('data-object-id')) ?? '');
      doneBytes += Number(await r.locator('[data-bytes]').getAttribute('data-bytes'));
    }
  }
  expect(done.length).toBeGreaterThanOrEqual(1);
  const remaining = new Set(engineApi<EngineImage[]>(dockerHost, '/images/json?all=1').map((i) => i.Id));
  for (const id of done) expect(remaining.has(id), `${id} still present`).toBe(false);
  expect(Number(await page.getByTestId('bytes-freed').getAttribute('data-bytes'))).toBe(doneBytes);
  const before = Number(await page.getByTestId('free-before').getAttribute('data-bytes'));
  const after = Number(await page.getByTestId('free-after').getAttribute('data-bytes'));
  expect(after).toBeGreaterThan(0);
  expect(before).toBeGreaterThan(0);

  // The audit page lists every transition of this job, and its CSV export holds them too.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  await expect(page.getByRole('heading', { name: 'Audit' })).toBeVisible();
  const jobRows = page.getByTestId('audit-row').filter({ has: page.locator(`a[href="/jobs/${jobId}"]`) });
  const expectedActions = ['job.requested', 'job.planning', 'job.planned', 'job.approved', 'job.running'];
  // The page loads its rows after the heading: wait until they are there.
  await expect
    .poll(() => jobRows.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action'))))
    .toEqual(expect.arrayContaining(expectedActions));
  const actions = await jobRows.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
  const csv = await page.request.get(`${stack.url}${await page.getByTestId('audit-csv').getAttribute('href')}`);
  expect(csv.status()).toBe(200);
  expect((await csv.text()).split('\r\n').filter((line) => line.includes(jobId)).length).toBe(actions.length);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.locator(`[data-testid="job-row"][data-job-id="${jobId}"]`)).toBeVisible();
});
