import 'server-only';
import type { Role } from '@ballast/db';
import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { getRuntime } from '../runtime';
import { listUserOrganizations, type UserOrganization } from '../services/organizations';
import { needsSetup } from '../services/setup';
import { ORG_COOKIE, readCookie } from './org-cookie';
import { roleAtLeast } from './roles';

export interface PageSession {
  user: { id: string; name: string; email: string };
  organizations: UserOrganization[];
  /** The organization pages show, with the user's role in it; null when they belong to none. */
  active: UserOrganization | null;
}

/** The signed-in user of a page request, or null. Same rules as the API's (trpc/init.ts). */
export async function getPageSession(): Promise<PageSession | null> {
  const runtime = getRuntime();
  const requestHeaders = await headers();
  const session = await runtime.auth.api.getSession({ headers: requestHeaders });
  if (!session) return null;
  const organizations = await listUserOrganizations(runtime.prisma, session.user.id);
  const requested = readCookie(requestHeaders.get('cookie'), ORG_COOKIE);
  return {
    user: { id: session.user.id, name: session.user.name, email: session.user.email },
    organizations,
    active: organizations.find((o) => o.id === requested) ?? organizations[0] ?? null,
  };
}

/** For every page behind sign-in: first run goes to setup, anyone else not signed in to sign-in. */
export async function requirePageSession(): Promise<PageSession> {
  const session = await getPageSession();
  if (session) return session;
  if (await needsSetup(getRuntime().prisma)) redirect('/setup');
  redirect('/sign-in');
}

export function hasRole(session: PageSession, minimum: Role): boolean {
  return session.active !== null && roleAtLeast(session.active.role, minimum);
}

export async function isFirstRun(): Promise<boolean> {
  return needsSetup(getRuntime().prisma);
}
