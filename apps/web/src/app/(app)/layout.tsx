import Link from 'next/link';
import type { ReactNode } from 'react';
import { OrganizationSwitcher, SignOutButton } from '~/components/account-menu';
import { hasRole, requirePageSession } from '~/server/auth/page-session';

export const dynamic = 'force-dynamic';

export default async function AppLayout({ children }: { children: ReactNode }) {
  const session = await requirePageSession();
  const isAdmin = hasRole(session, 'admin');
  return (
    <>
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-4 px-6 py-3">
          <Link href="/" className="text-lg font-semibold tracking-tight">
            Ballast
          </Link>
          <OrganizationSwitcher organizations={session.organizations} activeId={session.active?.id ?? null} />
          <nav aria-label="Main" className="flex items-center gap-4 text-sm">
            <Link href="/overview" className="text-slate-700 hover:text-slate-900">
              Overview
            </Link>
            <Link href="/" className="text-slate-700 hover:text-slate-900">
              Hosts
            </Link>
            <Link href="/opportunities" className="text-slate-700 hover:text-slate-900">
              Opportunities
            </Link>
            <Link href="/images" className="text-slate-700 hover:text-slate-900">
              Images
            </Link>
            <Link href="/jobs" className="text-slate-700 hover:text-slate-900">
              Jobs
            </Link>
            <Link href="/audit" className="text-slate-700 hover:text-slate-900">
              Audit
            </Link>
            {isAdmin ? (
              <>
                <Link href="/settings/members" className="text-slate-700 hover:text-slate-900">
                  Members
                </Link>
                <Link href="/settings/agents" className="text-slate-700 hover:text-slate-900">
                  Agents
                </Link>
                <Link href="/settings/tokens" className="text-slate-700 hover:text-slate-900">
                  API tokens
                </Link>
                <Link href="/settings/savings" className="text-slate-700 hover:text-slate-900">
                  Savings policy
                </Link>
                <Link href="/settings/organization" className="text-slate-700 hover:text-slate-900">
                  Settings
                </Link>
              </>
            ) : null}
          </nav>
          <div className="ml-auto flex items-center gap-3 text-sm">
            <span className="text-slate-600" data-testid="signed-in-as">
              {session.user.email}
              {session.active ? (
                <span className="ml-1 rounded bg-slate-100 px-1.5 py-0.5 text-xs">{session.active.role}</span>
              ) : null}
            </span>
            <SignOutButton />
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-7xl px-6 py-6">
        {session.active ? (
          children
        ) : (
          <div className="space-y-2">
            <h1 className="text-2xl font-semibold">No organization yet</h1>
            <p className="text-sm text-slate-600">
              You are not a member of any organization. Open an invitation link from an admin, or{' '}
              <Link className="text-sky-700 underline" href="/organizations/new">
                create an organization
              </Link>
              .
            </p>
            {children}
          </div>
        )}
      </main>
    </>
  );
}
