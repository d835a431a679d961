'use client';

import { useMutation } from '@tanstack/react-query';
import Link from 'next/link';
import { useId } from 'react';
import { useTRPC } from '~/trpc/react';
import { authPost } from './auth-client';

export function OrganizationSwitcher({
  organizations,
  activeId,
}: {
  organizations: { id: string; name: string; role: string }[];
  activeId: string | null;
}) {
  const trpc = useTRPC();
  const id = useId();
  const switchOrganization = useMutation(
    trpc.account.switchOrganization.mutationOptions({ onSuccess: () => window.location.assign('/') }),
  );
  const active = organizations.find((o) => o.id === activeId);
  return (
    <div className="flex items-center gap-2 text-sm">
      {organizations.length > 1 ? (
        <>
          <label htmlFor={id} className="sr-only">
            Organization
          </label>
          <select
            id={id}
            value={activeId ?? ''}
            onChange={(event) => switchOrganization.mutate({ orgId: event.target.value })}
            className="rounded-md border border-slate-300 bg-white px-2 py-1"
          >
            {organizations.map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        </>
      ) : (
        <span className="font-medium" data-testid="organization-name">
          {active?.name}
        </span>
      )}
      <Link href="/organizations/new" className="text-xs text-sky-700 underline">
        New organization
      </Link>
    </div>
  );
}

export function SignOutButton() {
  return (
    <button
      type="button"
      className="rounded-md border border-slate-300 px-3 py-1 text-slate-700 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-sky-600"
      onClick={async () => {
        await authPost('/sign-out', {});
        window.location.assign('/sign-in');
      }}
    >
      Sign out
    </button>
  );
}
