// The API as a browser or a script meets it: the real route handlers, better-auth and database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as authRoute from '~/app/api/auth/[...all]/route';
import * as trpcRoute from '~/app/api/trpc/[trpc]/route';
import type { Logger } from '../log';
import { setRuntime } from '../runtime';
import { createApiToken } from '../services/api-tokens';
import { createWorld, TEST_PASSWORD, type World } from '../testing/world';
import { appRouter, PUBLIC_PROCEDURES } from '../trpc/root';
import { CLIENT_IP_HEADER } from './better-auth';

const ORIGIN = 'http://127.0.0.1:3000';
let world: World;
const logged: { msg: string; fields: Record<string, unknown> | undefined }[] = [];

function capturingLog(): Logger {
  const log: Logger = {
    debug: () => {},
    info: (msg, fields) => void logged.push({ msg, fields }),
    warn: (msg, fields) => void logged.push({ msg, fields }),
    error: (msg, fields) => void logged.push({ msg, fields }),
    child: () => log,
  };
  return log;
}

beforeAll(async () => {
  const log = capturingLog();
  world = await createWorld({ log, signInAttemptsPerMinute: 5 });
  setRuntime({
    prisma: world.db.prisma,
    events: world.events,
    embeddedDatabase: false,
    defaultOrgId: world.orgA,
    connectedAgents: () => 0,
    disconnectAgent: () => false,
    auth: world.auth,
    accounts: world.accounts,
    log,
    publicUrl: undefined,
    secureCookies: false,
  });
});

afterAll(async () => {
  await world?.close();
});

let nextIp = 1;
/** Each test signs in from its own address so the rate limiter's counts stay apart. */
const freshIp = () => `10.0.0.${nextIp++}`;

function authRequest(path: string, body: unknown, headers: Record<string, string> = {}) {
  return authRoute.POST(
    new Request(`${ORIGIN}/api/auth${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: ORIGIN, [CLIENT_IP_HEADER]: '10.9.9.9', ...headers },
      body: JSON.stringify(body),
    }),
  );
}

async function signIn(email: string, password: string, ip = freshIp()) {
  const response = await authRequest('/sign-in/email', { email, password }, { [CLIENT_IP_HEADER]: ip });
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  return { response, cookie };
}

const trpcGet = (path: string, headers: Record<string, string> = {}, input?: unknown) =>
  trpcRoute.GET(
    new Request(
      `${ORIGIN}/api/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`}`,
      { headers },
    ),
  );

const trpcPost = (path: string, input: unknown, headers: Record<string, string> = {}) =>
  trpcRoute.POST(
    new Request(`${ORIGIN}/api/trpc/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ json: input }),
    }),
  );

const auditActions = async (orgId: string) =>
  (await world.db.prisma.auditEvent.findMany({ where: { orgId }, select: { action: true } })).map((e) => e.action);

describe('/api/trpc without credentials', () => {
  it('answers 401 for every procedure that is not public', async () => {
    const procedures = Object.entries(appRouter._def.procedures).map(
      ([path, procedure]) => [path, Reflect.get(Reflect.get(procedure, '_def'), 'type')] as const,
    );
    for (const [path, type] of procedures) {
      if (PUBLIC_PROCEDURES.has(path)) continue;
      const response = type === 'mutation' ? await trpcPost(path, {}, { origin: ORIGIN }) : await trpcGet(path);
      expect(response.status, path).toBe(401);
    }
  });

  it('answers public procedures', async () => {
    const response = await trpcGet('account.setupState');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ result: { data: { json: { needsSetup: false } } } });
  });
});

describe('sessions', () => {
  it('signs in with email and password, reaches the API with the cookie, and audits it', async () => {
    const { response, cookie } = await signIn(world.a.viewer.email, TEST_PASSWORD);
    expect(response.status).toBe(200);
    const setCookie = response.headers.getSetCookie().join('\n');
    expect(setCookie).toMatch(/ballast\.session_token=/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).not.toMatch(/Secure/i);

    const me = await trpcGet('account.me', { cookie });
    expect(me.status).toBe(200);
    expect(JSON.stringify(await me.json())).toContain(world.a.viewer.email);
    expect(await auditActions(world.orgA)).toContain('auth.sign_in');

    const signOut = await authRequest('/sign-out', {}, { cookie });
    expect(signOut.status).toBe(200);
    expect(await auditActions(world.orgA)).toContain('auth.sign_out');
    expect((await trpcGet('account.me', { cookie })).status).toBe(401);
  });

  it('refuses a wrong password, audits the failure, and rate-limits repeated attempts', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await signIn(world.a.operator.email, 'wrong password!!', ip)).response.status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses[5]).toBe(429);
    // The limit is per client address: the right password from the same address waits too.
    expect((await signIn(world.a.operator.email, TEST_PASSWORD, ip)).response.status).toBe(429);
    expect((await signIn(world.a.operator.email, TEST_PASSWORD)).response.status).toBe(200);
    expect((await auditActions(world.orgA)).filter((a) => a === 'auth.sign_in_failed').length).toBe(5);
  });

  it('refuses self sign-up over HTTP: accounts come from setup or an invitation', async () => {
    const response = await authRequest('/sign-up/email', {
      name: 'X',
      email: 'x@example.test',
      password: 'a long password',
    });
    expect(response.status).toBe(403);
    expect(await world.db.prisma.user.findUnique({ where: { email: 'x@example.test' } })).toBeNull();
  });

  it('resets a password through the one-time link written to the log', async () => {
    const email = world.loner.email;
    const request = await authRequest('/request-password-reset', { email, redirectTo: '/reset-password' });
    expect(request.status).toBe(200);
    const entry = logged.find((l) => l.msg.startsWith('password reset') && l.fields?.email === email);
    const url = new URL(String(entry?.fields?.url));
    expect(url.origin).toBe(ORIGIN);
    expect(url.pathname).toBe('/reset-password');
    const token = url.searchParams.get('token');
    const reset = await authRequest('/reset-password', { token, newPassword: 'a brand new password' });
    expect(reset.status).toBe(200);
    expect((await signIn(email, TEST_PASSWORD)).response.status).toBe(401);
    expect((await signIn(email, 'a brand new password')).response.status).toBe(200);
    // One-time: the same link does not work twice.
    expect((await authRequest('/reset-password', { token, newPassword: 'yet another password' })).status).toBe(400);
  });

  it('marks cookies Secure when the request came over TLS through a proxy', async () => {
    const response = await authRequest(
      '/sign-in/email',
      { email: world.a.admin.email, password: TEST_PASSWORD },
      { 'x-forwarded-proto': 'https', origin: 'https://127.0.0.1:3000', [CLIENT_IP_HEADER]: freshIp() },
    );
    expect(response.status).toBe(200);
    for (const cookie of response.headers.getSetCookie()) expect(cookie).toMatch(/;\s*Secure/i);
  });
});

describe('cross-site request forgery', () => {
  it('refuses cookie-authenticated writes that are not provably same-origin', async () => {
    const { cookie } = await signIn(world.bAdmin.email, TEST_PASSWORD);
    const input = { name: 'csrf' };
    const refused: Record<string, string>[] = [
      { cookie, origin: 'https://evil.example' },
      { cookie, 'sec-fetch-site': 'cross-site' },
      { cookie }, // no Origin, no Sec-Fetch-Site, no client header: cannot tell, so no
    ];
    for (const headers of refused) {
      expect((await trpcPost('account.createOrganization', input, headers)).status).toBe(403);
    }
    expect((await authRequest('/sign-out', {}, { cookie, origin: 'https://evil.example' })).status).toBe(403);
    const accepted: Record<string, string>[] = [
      { cookie, origin: ORIGIN },
      { cookie, 'sec-fetch-site': 'same-origin' },
      { cookie, 'x-ballast-client': 'web' },
    ];
    for (const headers of accepted) {
      expect((await trpcPost('account.createOrganization', input, headers)).status).toBe(200);
    }
  });
});

describe('API tokens', () => {
  it('authenticate with Authorization: Bearer, record last use, and stop working when revoked', async () => {
    const { token, apiToken } = await createApiToken(world.db.prisma, world.orgA, world.a.admin.userId, {
      name: 'automation',
      scope: 'read',
    });
    expect(token).toMatch(/^blt_[0-9a-z]+_[A-Za-z0-9_-]{43}$/);
    const stored = await world.db.prisma.apiToken.findUniqueOrThrow({
      where: { orgId_id: { orgId: world.orgA, id: apiToken.id } },
    });
    expect(stored.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    // The secret is the last 43 characters; base64url may itself contain '_', so no split.
    expect(JSON.stringify(stored)).not.toContain(token.slice(-43));

    const bearer = { authorization: `Bearer ${token}` };
    expect((await trpcGet('host.list', bearer)).status).toBe(200);
    // read scope is a viewer: admin procedures are refused.
    expect((await trpcGet('member.list', bearer)).status).toBe(403);
    const used = await world.db.prisma.apiToken.findUniqueOrThrow({
      where: { orgId_id: { orgId: world.orgA, id: apiToken.id } },
      select: { lastUsedAt: true },
    });
    expect(used.lastUsedAt).not.toBeNull();

    const { cookie } = await signIn(world.a.admin.email, TEST_PASSWORD);
    const revoke = await trpcPost('apiToken.revoke', { id: apiToken.id }, { cookie, origin: ORIGIN });
    expect(revoke.status).toBe(200);
    expect((await trpcGet('host.list', bearer)).status).toBe(401);
    expect((await trpcGet('host.list', { authorization: 'Bearer blt_nothing_here' })).status).toBe(401);
    expect(await auditActions(world.orgA)).toEqual(expect.arrayContaining(['api_token.created', 'api_token.revoked']));
  });

  it('never returns a hash in listings', async () => {
    const { cookie } = await signIn(world.a.admin.email, TEST_PASSWORD);
    const body = JSON.stringify(await (await trpcGet('apiToken.list', { cookie })).json());
    expect(body).not.toMatch(/tokenHash|[0-9a-f]{64}/);
  });
});
