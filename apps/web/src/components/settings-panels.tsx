'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { useTRPC } from '~/trpc/react';
import { ErrorMessage, Field, Notice, SubmitButton } from './form';

const ROLES = ['viewer', 'operator', 'admin'] as const;
type Role = (typeof ROLES)[number];
const ROLE_HELP: Record<Role, string> = {
  viewer: 'reads hosts and storage',
  operator: 'also requests and approves jobs',
  admin: 'also manages members, tokens and settings',
};
const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

const formValue = (form: HTMLFormElement, name: string) => {
  const value = new FormData(form).get(name);
  return typeof value === 'string' ? value : '';
};

function RoleSelect({ name, label, defaultValue }: { name: string; label: string; defaultValue: Role }) {
  const id = useId();
  return (
    <div className="space-y-1">
      <label htmlFor={id} className="block text-sm font-medium text-slate-800">
        {label}
      </label>
      <select
        id={id}
        name={name}
        defaultValue={defaultValue}
        className="rounded-md border border-slate-300 bg-white px-3 py-2 text-sm"
      >
        {ROLES.map((role) => (
          <option key={role} value={role}>
            {role} – {ROLE_HELP[role]}
          </option>
        ))}
      </select>
    </div>
  );
}

const dateTime = (date: Date | null) => (date ? date.toLocaleString() : '—');

export function MembersPanel({ currentUserId }: { currentUserId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const members = useQuery(trpc.member.list.queryOptions());
  const invitations = useQuery(trpc.invitation.list.queryOptions());
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: trpc.member.list.queryKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.invitation.list.queryKey() });
  };
  const invite = useMutation(trpc.invitation.create.mutationOptions({ onSuccess: refresh }));
  const revoke = useMutation(trpc.invitation.revoke.mutationOptions({ onSuccess: refresh }));
  const updateRole = useMutation(trpc.member.updateRole.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.member.remove.mutationOptions({ onSuccess: refresh }));

  const onInvite = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const role = formValue(form, 'role');
    if (!isRole(role)) return;
    invite.mutate({ email: formValue(form, 'email'), role }, { onSuccess: () => form.reset() });
  };

  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">Members</h1>
      <section aria-labelledby="members-heading" className="space-y-3">
        <h2 id="members-heading" className="text-lg font-semibold">
          People in this organization
        </h2>
        <ErrorMessage message={members.error?.message ?? updateRole.error?.message ?? remove.error?.message} />
        <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm">
          <thead className="bg-slate-50 text-left text-slate-600">
            <tr>
              <th className="px-3 py-2 font-medium">Name</th>
              <th className="px-3 py-2 font-medium">Email</th>
              <th className="px-3 py-2 font-medium">Role</th>
              <th className="px-3 py-2 font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {members.data?.map((m) => (
              <tr key={m.userId} className="border-t border-slate-100" data-testid={`member-${m.email}`}>
                <td className="px-3 py-2">{m.name}</td>
                <td className="px-3 py-2">{m.email}</td>
                <td className="px-3 py-2">
                  <label className="sr-only" htmlFor={`role-${m.userId}`}>
                    Role of {m.email}
                  </label>
                  <select
                    id={`role-${m.userId}`}
                    value={m.role}
                    onChange={(event) => {
                      const role = event.target.value;
                      if (isRole(role)) updateRole.mutate({ userId: m.userId, role });
                    }}
                    className="rounded-md border border-slate-300 bg-white px-2 py-1"
                  >
                    {ROLES.map((role) => (
                      <option key={role} value={role}>
                        {role}
                      </option>
                    ))}
                  </select>
                </td>
                <td className="px-3 py-2 text-right">
                  <button
                    type="button"
                    className="text-red-700 underline disabled:opacity-50"
                    onClick={() => remove.mutate({ userId: m.userId })}
                  >
                    {m.userId === currentUserId ? 'Leave' : 'Remove'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="invite-heading" className="max-w-xl space-y-3">
        <h2 id="invite-heading" className="text-lg font-semibold">
          Invite someone
        </h2>
        <p className="text-sm text-slate-600">
          The invitation link works once, for 7 days, for that email address. It is shown here and written to the server
          log; send it to the person yourself.
        </p>
        <form onSubmit={onInvite} className="space-y-3" aria-label="Invite a member">
          <ErrorMessage message={invite.error?.message} />
          <Field label="Email" name="email" type="email" required />
          <RoleSelect name="role" label="Role" defaultValue="viewer" />
          <SubmitButton busy={invite.isPending}>Create invitation link</SubmitButton>
        </form>
        {invite.data ? (
          <Notice>
            <p>Invitation link for {invite.data.invitation.email}:</p>
            <code data-testid="invitation-link" className="block break-all pt-1 text-xs">
              {invite.data.link}
            </code>
          </Notice>
        ) : null}
      </section>

      <section aria-labelledby="pending-heading" className="space-y-3">
        <h2 id="pending-heading" className="text-lg font-semibold">
          Pending invitations
        </h2>
        {invitations.data?.length === 0 ? <p className="text-sm text-slate-500">None.</p> : null}
        <ul className="space-y-1 text-sm">
          {invitations.data?.map((i) => (
            <li key={i.id} className="flex items-center gap-3">
              <span>
                {i.email} as {i.role}, expires {dateTime(i.expiresAt)}
              </span>
              <button type="button" className="text-red-700 underline" onClick={() => revoke.mutate({ id: i.id })}>
                Revoke
              </button>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

export function TokensPanel() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.apiToken.list.queryOptions());
  const refresh = () => void queryClient.invalidateQueries({ queryKey: trpc.apiToken.list.queryKey() });
  const create = useMutation(trpc.apiToken.create.mutationOptions({ onSuccess: refresh }));
  const revoke = useMutation(trpc.apiToken.revoke.mutationOptions({ onSuccess: refresh }));
  const scopeId = useId();

  const onCreate = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const scope = formValue(form, 'scope');
    if (scope !== 'read' && scope !== 'operate' && scope !== 'admin') return;
    create.mutate({ name: formValue(form, 'name'), scope }, { onSuccess: () => form.reset() });
  };

  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">API tokens</h1>
      <section aria-labelledby="new-token-heading" className="max-w-xl space-y-3">
        <h2 id="new-token-heading" className="text-lg font-semibold">
          New token
        </h2>
        <p className="text-sm text-slate-600">
          For scripts: send it as <code>Authorization: Bearer …</code> to <code>/api/trpc</code>. Read tokens act as
          viewers, operate tokens as operators, admin tokens as admins of this organization.
        </p>
        <form onSubmit={onCreate} className="space-y-3" aria-label="Create an API token">
          <ErrorMessage message={create.error?.message} />
          <Field label="Name" name="name" required placeholder="nightly report" />
          <div className="space-y-1">
            <label htmlFor={scopeId} className="block text-sm font-medium text-slate-800">
              Scope
            </label>
            <select
              id={scopeId}
              name="scope"
              defaultValue="read"
              className="rounded-md border border-slate-300 bg-white px-3 py-2 text-sm"
            >
              <option value="read">read</option>
              <option value="operate">operate</option>
              <option value="admin">admin</option>
            </select>
          </div>
          <SubmitButton busy={create.isPending}>Create token</SubmitButton>
        </form>
        {create.data ? (
          <Notice>
            <p>Copy this token now: it is not stored and cannot be shown again.</p>
            <code data-testid="new-api-token" className="block break-all pt-1 text-xs">
              {create.data.token}
            </code>
          </Notice>
        ) : null}
      </section>
      <section aria-labelledby="tokens-heading" className="space-y-3">
        <h2 id="tokens-heading" className="text-lg font-semibold">
          Tokens
        </h2>
        <ErrorMessage message={tokens.error?.message ?? revoke.error?.message} />
        <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
          <thead className="bg-slate-50 text-left text-slate-600">
            <tr>
              <th className="px-3 py-2 font-medium">Name</th>
              <th className="px-3 py-2 font-medium">Token</th>
              <th className="px-3 py-2 font-medium">Scope</th>
              <th className="px-3 py-2 font-medium">Created</th>
              <th className="px-3 py-2 font-medium">Last used</th>
              <th className="px-3 py-2 font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.data?.map((t) => (
              <tr key={t.id} className="border-t border-slate-100" data-testid={`token-${t.name}`}>
                <td className="px-3 py-2">{t.name}</td>
                <td className="px-3 py-2 font-mono text-xs">{t.hint}</td>
                <td className="px-3 py-2">{t.scope}</td>
                <td className="px-3 py-2">{dateTime(t.createdAt)}</td>
                <td className="px-3 py-2">{dateTime(t.lastUsedAt)}</td>
                <td className="px-3 py-2 text-right">
                  {t.revokedAt ? (
                    <span className="text-slate-500">revoked</span>
                  ) : (
                    <button
                      type="button"
                      className="text-red-700 underline"
                      onClick={() => revoke.mutate({ id: t.id })}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

export function OrganizationSettingsPanel() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const current = useQuery(trpc.organization.current.queryOptions());
  const audit = useQuery(trpc.organization.auditLog.queryOptions({ limit: 50 }));
  const update = useMutation(
    trpc.organization.update.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.organization.current.queryKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.organization.auditLog.queryKey() });
      },
    }),
  );
  if (!current.data) return <ErrorMessage message={current.error?.message} />;
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    update.mutate({ name: formValue(form, 'name'), requireTwoPersonApproval: new FormData(form).has('twoPerson') });
  };
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">Organization settings</h1>
      <form onSubmit={onSubmit} className="max-w-xl space-y-4" aria-label="Organization settings">
        <ErrorMessage message={update.error?.message} />
        {update.isSuccess ? <Notice>Saved.</Notice> : null}
        <Field label="Name" name="name" required defaultValue={current.data.name} />
        <div className="flex items-start gap-2">
          <input
            id="two-person"
            name="twoPerson"
            type="checkbox"
            defaultChecked={current.data.requireTwoPersonApproval}
            className="mt-1"
          />
          <label htmlFor="two-person" className="text-sm">
            <span className="font-medium">Two-person rule</span>
            <span className="block text-slate-600">
              A job must be approved by someone other than the person who requested it.
            </span>
          </label>
        </div>
        <SubmitButton busy={update.isPending}>Save</SubmitButton>
      </form>
      <section aria-labelledby="audit-heading" className="space-y-3">
        <h2 id="audit-heading" className="text-lg font-semibold">
          Recent activity
        </h2>
        <ul className="space-y-1 font-mono text-xs text-slate-700">
          {audit.data?.map((e) => (
            <li key={e.id}>
              {e.at.toISOString()} {e.action} {e.actor} {e.target ?? ''}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

export function CreateOrganizationForm() {
  const trpc = useTRPC();
  const [name, setName] = useState('');
  const create = useMutation(
    trpc.account.createOrganization.mutationOptions({ onSuccess: () => window.location.assign('/') }),
  );
  return (
    <form
      aria-label="Create an organization"
      className="space-y-4"
      onSubmit={(event) => {
        event.preventDefault();
        create.mutate({ name });
      }}
    >
      <ErrorMessage message={create.error?.message} />
      <Field label="Organization name" name="name" required value={name} onChange={(e) => setName(e.target.value)} />
      <SubmitButton busy={create.isPending}>Create organization</SubmitButton>
    </form>
  );
}
