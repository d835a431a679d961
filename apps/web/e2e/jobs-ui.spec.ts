// The job pages against the real production server and database, with a `ws` client speaking
// the agent protocol in place of the agent (its answers are scripted here, so every part of
// the plan preview, approval, progress and result rendering is checked exactly). The same
// flow with the real agent and dockerd is jobs.spec.ts.
import { createHash } from 'node:crypto';
import { AGENT_WS_PATH, JOB_KINDS, type JobPlan, jobCapability, type ServerMessage } from '@ballast/shared';
import { makeSampleInventory } from '@ballast/shared/sample-inventory';
import { expect, test } from '@playwright/test';
import WebSocket from 'ws';
import { setUpFirstAdmin } from './session';
import { type Server, startServer } from './stack';

let server: Server;
let agent: WebSocket;
const MACHINE = 'e2e-protocol-agent';
const ITEMS = [
  { type: 'buildCache' as const, id: 'rec-one', name: 'build cache record one', bytes: 4_000, note: 'regular' },
  { type: 'buildCache' as const, id: 'rec-two', name: 'build cache record two', bytes: 3_000 },
];

function planFor(jobId: string, params: Record<string, unknown>): JobPlan {
  const body = {
    jobId,
    kind: 'buildCache.prune' as const,
    params,
    plannedAt: new Date().toISOString(),
    engineId: 'ENGINE:E2E',
    items: ITEMS,
    skipped: [
      { type: 'buildCache' as const, id: 'rec-busy', name: 'busy record', reason: 'in use by a running build' },
    ],
    totalBytes: 7_000,
    notes: ['The next build that needed this cache runs slower.'],
    configChange: null,
    freeBytes: 10_000_000,
  };
  return { ...body, digest: createHash('sha256').update(JSON.stringify(body)).digest('hex') };
}

/** Answers like an agent: a plan for job.plan; progress, then the result, for job.execute. */
function scriptedAgent(url: string, token: string, machine = MACHINE): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${AGENT_WS_PATH}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const send = (frame: object) => ws.send(JSON.stringify({ v: 1, ...frame }));
    ws.on('error', reject);
    ws.on('open', () => {
      send({
        type: 'hello',
        agentVersion: '0.2.0',
        machineId: machine,
        hostname: machine,
        capabilities: ['jobs', ...JOB_KINDS.map(jobCapability)],
      });
    });
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage;
      if (message.type === 'welcome') {
        send({
          type: 'snapshot',
          stream: 'scripted-agent',
          seq: 1,
          inventory: makeSampleInventory({ machineId: machine, hostname: machine }),
        });
        resolve(ws);
      } else if (message.type === 'job.plan') {
        send({ type: 'job.planned', jobId: message.jobId, plan: planFor(message.jobId, message.params) });
      } else if (message.type === 'job.execute') {
        const { plan } = message;
        const items = plan.items.map((i) => ({
          type: i.type,
          id: i.id,
          name: i.name,
          outcome: 'done',
          bytes: i.bytes,
        }));
        // Paced so the page shows the job running before it finishes.
        setTimeout(() => send({ type: 'job.progress', jobId: plan.jobId, done: 1, total: 2, item: items[0] }), 1_500);
        setTimeout(() => {
          send({
            type: 'job.result',
            jobId: plan.jobId,
            result: {
              jobId: plan.jobId,
              status: 'succeeded',
              startedAt: new Date().toISOString(),
              finishedAt: new Date().toISOString(),
              items,
              bytesFreed: 7_000,
              engineReportedBytes: 6_500,
              freeBytesBefore: 10_000_000,
              freeBytesAfter: 10_008_192,
            },
          });
        }, 4_000);
      }
    });
  });
}

test.beforeAll(async () => {
  server = await startServer();
  agent = await scriptedAgent(server.url, server.agentToken);
});

test.afterAll(async () => {
  agent?.close();
  await server?.stop();
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright requires a destructuring pattern for fixtures.
test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    await testInfo.attach('server-logs', { body: server.logs.join('\n'), contentType: 'text/plain' });
  }
});

test('plan preview, approval, live progress and result render what the agent sent', async ({ page }) => {
  await setUpFirstAdmin(page, server.url);
  const hostRow = page.getByTestId(`host-row-${MACHINE}`);
  await expect(hostRow).toBeVisible();
  await hostRow.getByRole('link').first().click();
  const opportunity = page.locator('[data-testid="host-opportunity"][data-kind="buildCache.reclaimable"]');
  await expect(opportunity).toBeVisible();
  await opportunity.getByRole('button', { name: /^Plan / }).click();

  await expect(page).toHaveURL(/\/jobs\/job_/);
  const jobId = page.url().split('/jobs/')[1] ?? '';
  const plan = page.getByRole('region', { name: 'Plan' });
  await expect(plan).toBeVisible();
  await expect(page.getByTestId('job-state')).toHaveAttribute('data-state', 'planned');
  const rows = plan.getByRole('table', { name: 'Planned objects' }).getByTestId('object-row');
  await expect(rows).toHaveCount(2);
  expect(await rows.evaluateAll((r) => r.map((row) => row.getAttribute('data-object-id')))).toEqual([
    'rec-one',
    'rec-two',
  ]);
  await expect(page.getByTestId('plan-total-bytes')).toHaveAttribute('data-bytes', '7000');
  await expect(plan.getByText('The next build that needed this cache runs slower.')).toBeVisible();
  await plan.getByText('1 object skipped, and why').click();
  await expect(page.getByTestId('skipped-object')).toContainText('in use by a running build');
  await page.screenshot({ path: 'test-results/job-ui-plan.png', fullPage: true });

  // Keyboard: focus Approve and press Enter.
  await page.getByRole('button', { name: 'Approve' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('job-state')).toHaveAttribute('data-state', 'running');
  await expect(page.getByTestId('job-progress')).toHaveText('1 of 2 objects handled');
  await expect(page.getByTestId('job-state')).toHaveAttribute('data-state', 'succeeded');
  await expect(page.getByTestId('bytes-freed')).toHaveAttribute('data-bytes', '7000');
  await expect(page.getByTestId('engine-reported-bytes')).toHaveAttribute('data-bytes', '6500');
  await expect(page.getByTestId('free-before')).toHaveAttribute('data-bytes', '10000000');
  await expect(page.getByTestId('free-after')).toHaveAttribute('data-bytes', '10008192');
  await expect(page.getByTestId('free-change')).toHaveAttribute('data-bytes', '8192');
  await expect(page.getByText(/requested by admin@example\.test/)).toBeVisible();
  await expect(page.getByRole('table', { name: 'Per-object result' }).getByTestId('item-outcome')).toHaveText([
    'done',
    'done',
  ]);
  await page.screenshot({ path: 'test-results/job-ui-result.png', fullPage: true });

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
  const audit = page.getByTestId('audit-row').filter({ has: page.locator(`a[href="/jobs/${jobId}"]`) });
  await expect(audit).toHaveCount(6);
  expect(await audit.evaluateAll((r) => r.map((row) => row.getAttribute('data-action')))).toEqual([
    'job.succeeded',
    'job.running',
    'job.approved',
    'job.planned',
    'job.planning',
    'job.requested',
  ]);
  await page.screenshot({ path: 'test-results/job-ui-audit.png', fullPage: true });
  const csv = await page.request.get(`${server.url}${await page.getByTestId('audit-csv').getAttribute('href')}`);
  expect(csv.headers()['content-type']).toBe('text/csv; charset=utf-8');
  expect((await csv.text()).split('\r\n').filter((line) => line.includes(jobId))).toHaveLength(6);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.locator(`[data-testid="job-row"][data-job-id="${jobId}"]`)).toContainText('succeeded');
  await page.screenshot({ path: 'test-results/job-ui-jobs.png', fullPage: true });
});

test('a campaign plans one job per selected host and one approval runs them all', async ({ page }) => {
  const second = await scriptedAgent(server.url, server.agentToken, `${MACHINE}-2`);
  try {
    await page.goto(`${server.url}/sign-in`);
    await page.getByLabel('Email').fill('admin@example.test');
    await page.getByLabel('Password').fill('admin password 1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByTestId(`host-row-${MACHINE}-2`)).toBeVisible();

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Opportunities' }).click();
    await page.getByRole('combobox', { name: 'Kind' }).selectOption('buildCache.reclaimable');
    const rows = page.getByTestId('opportunity-row');
    await expect(rows).toHaveCount(2);
    // Start from nothing selected, then pick exactly the two build-cache rows.
    for (const box of await page.getByRole('checkbox').all()) await box.uncheck();
    for (const row of await rows.all()) await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Plan campaign' }).click();
    await expect(page).toHaveURL(/\/jobs\?campaign=cmp_/);

    const campaign = page.getByTestId('campaign');
    await expect(campaign).toHaveCount(1);
    await expect(campaign.getByTestId('campaign-host')).toHaveCount(2);
    await expect(campaign.getByRole('button', { name: 'Approve 2 planned' })).toBeEnabled();
    await campaign.getByRole('button', { name: 'Approve 2 planned' }).click();
    await expect
      .poll(() => campaign.getByTestId('job-state').evaluateAll((b) => b.map((e) => e.getAttribute('data-state'))))
      .toEqual(['succeeded', 'succeeded']);
    await page.screenshot({ path: 'test-results/job-ui-campaign.png', fullPage: true });
  } finally {
    second.close();
  }
});
