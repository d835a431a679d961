'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import { useTRPC } from '~/trpc/react';
import { ErrorMessage, Field, Notice, SubmitButton } from './form';

const dateTime = (date: Date | null) => (date ? date.toLocaleString() : '—');

const LIFETIMES = [
  { label: '1 hour', seconds: 3600 },
  { label: '24 hours', seconds: 86_400 },
  { label: '7 days', seconds: 7 * 86_400 },
  { label: '30 days', seconds: 30 * 86_400 },
] as const;

function tokenState(t: { revokedAt: Date | null; expiresAt: Date; uses: number; maxUses: number }, now: number) {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt.getTime() <= now) return 'expired';
  if (t.uses >= t.maxUses) return 'used up';
  return 'active';
}

export function AgentsPanel() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.enrollmentToken.list.queryOptions());
  const agents = useQuery(trpc.agent.list.queryOptions());
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: trpc.enrollmentToken.list.queryKey() });
    void queryClient.invalidateQueries({ queryKey: trpc.agent.list.queryKey() });
  };
  const create = useMutation(trpc.enrollmentToken.create.mutationOptions({ onSuccess: refresh }));
  const revokeToken = useMutation(trpc.enrollmentToken.revoke.mutationOptions({ onSuccess: refresh }));
  const revokeAgent = useMutation(trpc.agent.revoke.mutationOptions({ onSuccess: refresh }));
  // The enroll command names the address this page was reached at, known only in the browser.
  const [origin, setOrigin] = useState('https://ballast.example.com');
  useEffect(() => setOrigin(window.location.origin), []);
  const now = Date.now();

  const onCreate = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    create.mutate({
      name: String(form.get('name') ?? ''),
      expiresInSeconds: Number(form.get('lifetime')),
      maxUses: Number(form.get('maxUses')),
    });
  };

  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-semibold">Agents</h1>
      <section aria-labelledby="new-enrollment-heading" className="max-w-xl space-y-3">
        <h2 id="new-enrollment-heading" className="text-lg font-semibold">
          New enrollment token
        </h2>
        <p className="text-sm text-slate-600">
          Each host exchanges the token once for its own credential. A token expires, has a number of uses, and can be
          revoked; the server keeps only its hash.
        </p>
        <form onSubmit={onCreate} className="space-y-3" aria-label="Create an enrollment token">
          <ErrorMessage message={create.error?.message} />
          <Field label="Name" name="name" required placeholder="rack 12" />
          <label className="block space-y-1 text-sm font-medium text-slate-800">
            <span>Expires after</span>
            <select
              name="lifetime"
              defaultValue={86_400}
              className="block rounded-md border border-slate-300 bg-white px-3 py-2"
            >
              {LIFETIMES.map((l) => (
                <option key={l.seconds} value={l.seconds}>
                  {l.label}
                </option>
              ))}
            </select>
          </label>
          <Field label="Maximum uses" name="maxUses" type="number" min={1} max={10000} defaultValue={10} required />
          <SubmitButton busy={create.isPending}>Create enrollment token</SubmitButton>
        </form>
        {create.data ? (
          <Notice>
            <p>Copy this now: the token is not stored and cannot be shown again. On each host, as root:</p>
            <code data-testid="enroll-command" className="block break-all pt-1 text-xs">
              ballast-agent enroll --server {origin} --token {create.data.token}
            </code>
          </Notice>
        ) : null}
      </section>

      <section aria-labelledby="enrollment-tokens-heading" className="space-y-3">
        <h2 id="enrollment-tokens-heading" className="text-lg font-semibold">
          Enrollment tokens
        </h2>
        <ErrorMessage message={tokens.error?.message ?? revokeToken.error?.message} />
        <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
          <thead className="bg-slate-50 text-left text-slate-600">
            <tr>
              <th className="px-3 py-2 font-medium">Name</th>
              <th className="px-3 py-2 font-medium">Uses</th>
              <th className="px-3 py-2 font-medium">Expires</th>
              <th className="px-3 py-2 font-medium">State</th>
              <th className="px-3 py-2 font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.data?.map((t) => {
              const state = tokenState(t, now);
              return (
                <tr key={t.id} className="border-t border-slate-100" data-testid={`enrollment-token-${t.name}`}>
                  <td className="px-3 py-2">{t.name}</td>
                  <td className="px-3 py-2">
                    {t.uses} / {t.maxUses}
                  </td>
                  <td className="px-3 py-2">{dateTime(t.expiresAt)}</td>
                  <td className="px-3 py-2">{state}</td>
                  <td className="px-3 py-2 text-right">
                    {state === 'active' ? (
                      <button
                        type="button"
                        className="text-red-700 underline"
                        onClick={() => revokeToken.mutate({ id: t.id })}
                      >
                        Revoke
                      </button>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="agents-heading" className="space-y-3">
        <h2 id="agents-heading" className="text-lg font-semibold">
          Enrolled agents
        </h2>
        <p className="text-sm text-slate-600">
          Revoking an agent disconnects it within seconds and refuses its credential from then on. To bring the host
          back, enroll it again with a new token.
        </p>
        <ErrorMessage message={agents.error?.message ?? revokeAgent.error?.message} />
        <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
          <thead className="bg-slate-50 text-left text-slate-600">
            <tr>
              <th className="px-3 py-2 font-medium">Host</th>
              <th className="px-3 py-2 font-medium">Machine ID</th>
              <th className="px-3 py-2 font-medium">Enrolled</th>
              <th className="px-3 py-2 font-medium">Last connected</th>
              <th className="px-3 py-2 font-medium">State</th>
              <th className="px-3 py-2 font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {agents.data?.map((a) => (
              <tr key={a.id} className="border-t border-slate-100" data-testid={`agent-${a.hostname}`}>
                <td className="px-3 py-2">
                  {a.hostname}
                  {a.cloneOf ? (
                    <span className="ml-2 rounded bg-amber-100 px-1 text-xs text-amber-900" title={a.cloneOf}>
                      suspected clone
                    </span>
                  ) : null}
                </td>
                <td className="px-3 py-2 font-mono text-xs">{a.machineId}</td>
                <td className="px-3 py-2">{dateTime(a.createdAt)}</td>
                <td className="px-3 py-2">{dateTime(a.lastUsedAt)}</td>
                <td className="px-3 py-2">{a.revokedAt ? 'revoked' : a.connected ? 'connected' : 'offline'}</td>
                <td className="px-3 py-2 text-right">
                  {a.revokedAt ? null : (
                    <button
                      type="button"
                      className="text-red-700 underline"
                      onClick={() => revokeAgent.mutate({ id: a.id })}
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
