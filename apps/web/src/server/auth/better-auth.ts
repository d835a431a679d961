import type { DbClient } from '@ballast/db';
import { newId } from '@ballast/db/ids';
import { betterAuth } from 'better-auth';
import { prismaAdapter } from 'better-auth/adapters/prisma';
import { APIError, createAuthMiddleware, getSessionFromCtx, isAPIError } from 'better-auth/api';
import type { Logger } from '../log';
import { recordUserAudit } from '../services/audit';
import { normalizeEmail } from '../services/invitations';
import { requestOrigin } from './origin';

/** server.ts overwrites this header with the socket's address, so it cannot be forged by clients. */
export const CLIENT_IP_HEADER = 'x-ballast-client-ip';

export const SESSION_COOKIE_PREFIX = 'ballast';

export interface AuthOptions {
  prisma: DbClient;
  secret: string;
  /** Where the server is reachable; BALLAST_PUBLIC_URL when set. */
  baseUrl: string;
  /** BALLAST_PUBLIC_URL, used for links in messages; otherwise the request's own origin. */
  publicUrl?: string | undefined;
  secureCookies: boolean;
  log: Logger;
  /** Attempts per minute and client address; the defaults suit people, tests lower them. */
  signInAttemptsPerMinute?: number;
}

const ID_PREFIXES: Record<string, string> = {
  user: 'usr',
  session: 'ses',
  account: 'acc',
  verification: 'ver',
  rateLimit: 'rl',
};

export function createAuth(options: AuthOptions) {
  const { prisma, log } = options;
  const linkBase = (request: Request | undefined) =>
    options.publicUrl ?? (request ? requestOrigin(request) : options.baseUrl);

  return betterAuth({
    appName: 'Ballast',
    secret: options.secret,
    baseURL: options.baseUrl,
    basePath: '/api/auth',
    database: prismaAdapter(prisma, { provider: 'postgresql' }),
    telemetry: { enabled: false },
    // Same-origin only: whatever host name the browser used, the form must come from it.
    trustedOrigins: (request) => (request ? [requestOrigin(request)] : []),
    emailAndPassword: {
      enabled: true,
      minPasswordLength: 10,
      maxPasswordLength: 256,
      autoSignIn: true,
      revokeSessionsOnPasswordReset: true,
      resetPasswordTokenExpiresIn: 3600,
      // No mail transport exists yet: the one-time link goes to the server log for an operator to pass on.
      sendResetPassword: async ({ user, token }, request) => {
        const url = `${linkBase(request)}/reset-password?token=${encodeURIComponent(token)}`;
        log.info('password reset requested: send this one-time link to the user', { email: user.email, url });
      },
    },
    session: { expiresIn: 7 * 24 * 3600, updateAge: 24 * 3600 },
    rateLimit: {
      enabled: true,
      storage: 'database',
      window: 60,
      max: 300,
      customRules: {
        '/sign-in/email': { window: 60, max: options.signInAttemptsPerMinute ?? 10 },
        '/request-password-reset': { window: 300, max: 5 },
        '/reset-password': { window: 60, max: 10 },
      },
    },
    advanced: {
      cookiePrefix: SESSION_COOKIE_PREFIX,
      useSecureCookies: options.secureCookies,
      ipAddress: { ipAddressHeaders: [CLIENT_IP_HEADER] },
      database: { generateId: ({ model }) => newId(ID_PREFIXES[model] ?? 'id') },
    },
    hooks: {
      before: createAuthMiddleware(async (ctx) => {
        // Accounts are made by setup and invitation acceptance (server-side calls, no request);
        // nobody may sign themselves up over HTTP.
        if (ctx.path === '/sign-up/email' && ctx.request) {
          throw new APIError('FORBIDDEN', { message: 'sign-up needs an invitation link from an admin' });
        }
        if (ctx.path === '/sign-out') {
          const session = await getSessionFromCtx(ctx).catch(() => null);
          if (session) await recordUserAudit(prisma, session.user.id, { action: 'auth.sign_out' });
        }
      }),
      after: createAuthMiddleware(async (ctx) => {
        if (ctx.path !== '/sign-in/email') return;
        const ip = ctx.request?.headers.get(CLIENT_IP_HEADER) ?? null;
        if (isAPIError(ctx.context.returned)) {
          const email = typeof ctx.body?.email === 'string' ? normalizeEmail(ctx.body.email) : '';
          const user = email ? await prisma.user.findUnique({ where: { email }, select: { id: true } }) : null;
          if (user) await recordUserAudit(prisma, user.id, { action: 'auth.sign_in_failed', details: { ip } });
          log.warn('sign-in failed', { email, ip, knownUser: user !== null });
          return;
        }
        const session = ctx.context.newSession;
        if (session) await recordUserAudit(prisma, session.user.id, { action: 'auth.sign_in', details: { ip } });
      }),
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;
