import { expect, type Page } from '@playwright/test';

export const ADMIN = {
  organization: 'Acme Ops',
  name: 'Ada Admin',
  email: 'admin@example.test',
  password: 'admin password 1',
};

/** First run: the setup page creates the first admin, who lands on the hosts page signed in. */
export async function setUpFirstAdmin(page: Page, url: string, admin = ADMIN): Promise<void> {
  await page.goto(url);
  await expect(page).toHaveURL(/\/setup$/);
  await page.getByLabel('Organization name').fill(admin.organization);
  await page.getByLabel('Your name').fill(admin.name);
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Create admin account' }).click();
  await expect(page.getByRole('heading', { name: 'Hosts' })).toBeVisible();
}

export async function signIn(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(`${url}/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-as')).toContainText(email);
}

/** The newest log line of the server that carries `field` (JSON logs on stderr). */
export function lastLogged(logs: string[], msgStart: string, field: string): string {
  for (const line of [...logs].reverse()) {
    const json = line.slice(line.indexOf('{'));
    try {
      const entry: Record<string, unknown> = JSON.parse(json);
      if (typeof entry.msg === 'string' && entry.msg.startsWith(msgStart) && typeof entry[field] === 'string') {
        return entry[field];
      }
    } catch {}
  }
  throw new Error(`no "${msgStart}" line with ${field} in the server log`);
}
