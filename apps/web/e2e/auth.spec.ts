import { type Browser, expect, type Page, test } from '@playwright/test';
import { ADMIN, lastLogged, setUpFirstAdmin, signIn } from './session';
import { type Server, startServer } from './stack';

let server: Server;

test.beforeAll(async () => {
  server = await startServer();
});

test.afterAll(async () => {
  await server?.stop();
});

// biome-ignore lint/correctness/noEmptyPattern: Playwright requires a destructuring pattern for fixtures.
test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    await testInfo.attach('server-logs', { body: server.logs.join('\n'), contentType: 'text/plain' });
  }
});

const shot = (page: Page, name: string) => page.screenshot({ path: `test-results/auth-${name}.png`, fullPage: true });

async function invite(page: Page, email: string, role: 'viewer' | 'operator' | 'admin'): Promise<string> {
  await page.goto(`${server.url}/settings/members`);
  const form = page.getByRole('form', { name: 'Invite a member' });
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Role').selectOption(role);
  await form.getByRole('button', { name: 'Create invitation link' }).click();
  const link = (await page.getByTestId('invitation-link').textContent())?.trim() ?? '';
  expect(link).toContain('/sign-up?invitation=bli_');
  // The same link is in the server log, for installs where the admin reads logs rather than the page.
  await expect.poll(() => lastLogged(server.logs, 'invitation created', 'link')).toBe(link);
  return link;
}

async function acceptAsNewUser(browser: Browser, link: string, name: string, password: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(link);
  await expect(page.getByLabel('Email')).toHaveValue(/@example\.test$/);
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account and join' }).click();
  await expect(page.getByRole('heading', { name: 'Hosts' })).toBeVisible();
  return page;
}

test('first admin, organizations, invitations and what each role sees', async ({ page, browser, request }) => {
  // Nothing is reachable before sign-in: pages send you to setup (first run), the API answers 401.
  expect((await request.get(`${server.url}/api/trpc/host.list`)).status()).toBe(401);
  await setUpFirstAdmin(page, server.url);
  await expect(page.getByTestId('organization-name')).toHaveText(ADMIN.organization);
  await expect(page.getByTestId('signed-in-as')).toContainText('admin');
  await shot(page, '1-admin-hosts');

  // A second organization makes the header offer a switcher; switch back to the first.
  await page.getByRole('link', { name: 'New organization' }).click();
  await page.getByLabel('Organization name').fill('Lab');
  await page.getByRole('button', { name: 'Create organization' }).click();
  const switcher = page.getByLabel('Organization');
  await expect(switcher.locator('option:checked')).toHaveText('Lab');
  await switcher.selectOption({ label: ADMIN.organization });
  await expect(switcher.locator('option:checked')).toHaveText(ADMIN.organization);

  const operatorLink = await invite(page, 'operator@example.test', 'operator');
  const viewerLink = await invite(page, 'viewer@example.test', 'viewer');
  await expect(page.getByText('viewer@example.test as viewer')).toBeVisible();
  await shot(page, '2-admin-members');

  // Admin-only: API tokens, shown once, usable as a bearer token.
  await page.getByRole('link', { name: 'API tokens' }).click();
  await page.getByLabel('Name').fill('nightly report');
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = (await page.getByTestId('new-api-token').textContent())?.trim() ?? '';
  expect(token).toMatch(/^blt_/);
  await expect(page.getByTestId('token-nightly report')).toContainText('read');
  await shot(page, '3-admin-tokens');
  const viaToken = await request.get(`${server.url}/api/trpc/host.list`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(viaToken.status()).toBe(200);

  // The invitees sign up from their links, each in a browser of their own.
  const operator = await acceptAsNewUser(browser, operatorLink, 'Otto Operator', 'operator password 1');
  await expect(operator.getByTestId('signed-in-as')).toContainText('operator');
  await expect(operator.getByRole('link', { name: 'Members' })).toHaveCount(0);
  await expect(operator.getByRole('link', { name: 'API tokens' })).toHaveCount(0);

  const viewer = await acceptAsNewUser(browser, viewerLink, 'Vera Viewer', 'viewer password 1');
  await expect(viewer.getByTestId('signed-in-as')).toContainText('viewer');
  await expect(viewer.getByRole('link', { name: 'API tokens' })).toHaveCount(0);
  await expect(viewer.getByRole('link', { name: 'Settings' })).toHaveCount(0);
  await shot(viewer, '4-viewer-hosts');
  await viewer.goto(`${server.url}/settings/tokens`);
  // Next adds its own empty role=alert route announcer, so look for ours by text.
  await expect(viewer.getByRole('alert').filter({ hasText: 'Only admins' })).toBeVisible();
  await expect(viewer.getByRole('button', { name: 'Create token' })).toHaveCount(0);
  await shot(viewer, '5-viewer-tokens-refused');

  // The admin sees both new members.
  await page.goto(`${server.url}/settings/members`);
  await expect(page.getByTestId('member-operator@example.test')).toBeVisible();
  await expect(page.getByTestId('member-viewer@example.test')).toBeVisible();

  // Sign out, then pages send the viewer to sign-in; signing in again restores their view.
  await viewer.getByRole('button', { name: 'Sign out' }).click();
  await expect(viewer).toHaveURL(/\/sign-in$/);
  await viewer.goto(server.url);
  await expect(viewer).toHaveURL(/\/sign-in$/);
  await viewer.getByLabel('Email').fill('viewer@example.test');
  await viewer.getByLabel('Password').fill('not the password');
  await viewer.getByRole('button', { name: 'Sign in' }).click();
  await expect(viewer.getByRole('alert').filter({ hasText: /invalid/i })).toBeVisible();
  await shot(viewer, '6-sign-in-error');
  await signIn(viewer, server.url, 'viewer@example.test', 'viewer password 1');
  await expect(viewer.getByTestId('signed-in-as')).toContainText('viewer');

  // Forgotten password: the one-time link goes to the server log.
  await operator.getByRole('button', { name: 'Sign out' }).click();
  await operator.getByRole('link', { name: 'Forgot your password?' }).click();
  await operator.getByLabel('Email').fill('operator@example.test');
  await operator.getByRole('button', { name: 'Send reset link' }).click();
  await expect(operator.getByRole('status')).toContainText('server log');
  const resetUrl = await expect
    .poll(() => lastLogged(server.logs, 'password reset requested', 'url'))
    .toContain('/reset-password?token=')
    .then(() => lastLogged(server.logs, 'password reset requested', 'url'));
  await operator.goto(resetUrl);
  await operator.getByLabel('New password', { exact: true }).fill('operator password 2');
  await operator.getByRole('button', { name: 'Set new password' }).click();
  await expect(operator.getByRole('status')).toContainText('password is changed');
  await signIn(operator, server.url, 'operator@example.test', 'operator password 2');

  // Self sign-up without an invitation is not offered.
  await operator.goto(`${server.url}/sign-up`);
  await expect(operator.getByRole('alert').filter({ hasText: 'invitation only' })).toBeVisible();
});
