'use client';

import type { ConfigChange } from '@ballast/shared/jobs';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { type ReactNode, useId, useState } from 'react';
import { errorText } from '~/components/form';
import { useTRPC } from '~/trpc/react';
import { Bytes, LoadError, Loading, tableClass, theadClass, useLiveUpdates } from '../dashboard/figures';
import {
  buttonClass,
  canOperate,
  dangerButtonClass,
  inputClass,
  isTerminal,
  STATE_HINTS,
  StateBadge,
  secondaryButtonClass,
  useRole,
} from './common';

const cell = 'px-3 py-2 align-top';
const num = 'whitespace-nowrap px-3 py-2 text-right align-top tabular-nums';
const short = (id: string) => (id.length > 40 ? `${id.replace(/^sha256:/, '').slice(0, 12)}…` : id);

/** One job: the plan preview, approval, live progress and the per-object result. */
export function JobDetail({ jobId }: { jobId: string }) {
  const trpc = useTRPC();
  const job = useQuery({
    ...trpc.job.get.queryOptions({ id: jobId }),
    // Live updates come through the host change stream; the poll covers another process's agents.
    refetchInterval: (query) => (query.state.data && isTerminal(query.state.data.state) ? false : 3_000),
  });
  useLiveUpdates();
  if (job.isPending) return <Loading what="the job" />;
  if (job.isError) return <LoadError what="the job" message={job.error.message} />;
  const j = job.data;
  const plan = j.plan;
  const result = j.result;

  return (
    <div className="space-y-6">
      <div className="space-y-1">
        <h1 className="text-2xl font-semibold">{j.kindLabel}</h1>
        <p className="flex flex-wrap items-center gap-2 text-sm text-slate-600">
          <StateBadge state={j.state} />
          <span data-testid="job-state-hint">{STATE_HINTS[j.state]}</span>
          <span>·</span>
          <span>
            on{' '}
            <Link className="text-sky-700 underline" href={`/hosts/${j.hostId}`}>
              {j.hostname}
            </Link>{' '}
            ({j.hostConnected ? 'agent connected' : 'agent offline'})
          </span>
          {j.campaignId ? (
            <Link className="text-sky-700 underline" href={`/jobs?campaign=${j.campaignId}`}>
              part of a campaign
            </Link>
          ) : null}
        </p>
        <p className="text-xs text-slate-500">
          <span className="font-mono">{j.id}</span> · requested by {j.requestedByName} on {j.createdAt.toLocaleString()}
          {j.approvedByName ? ` · approved by ${j.approvedByName}` : ''}
          {!isTerminal(j.state) && j.state !== 'running' ? ` · expires ${j.deadline.toLocaleString()}` : ''}
        </p>
        {j.error ? (
          <p role="alert" className="rounded border border-red-200 bg-red-50 p-2 text-sm text-red-800">
            {j.error}
          </p>
        ) : null}
      </div>

      <Actions job={j} />

      {j.state === 'running' || j.state === 'unknown' ? (
        <section aria-label="Progress" className="space-y-1">
          <h2 className="font-semibold">Progress</h2>
          <progress
            className="h-2 w-full"
            max={Math.max(1, j.progressTotal ?? 0)}
            value={j.progressDone}
            aria-label="Objects handled"
          />
          <p className="text-sm text-slate-600" data-testid="job-progress">
            {j.progressDone} of {j.progressTotal ?? '?'} objects handled
          </p>
        </section>
      ) : null}

      {result ? (
        <section aria-label="Result" className="space-y-2">
          <h2 className="font-semibold">Result</h2>
          <dl className="grid grid-cols-2 gap-3 text-sm sm:grid-cols-4">
            <Figure label="Freed (sum of objects done)">
              <Bytes value={result.bytesFreed} testId="bytes-freed" />
            </Figure>
            <Figure label="Engine reported">
              <Bytes value={result.engineReportedBytes} testId="engine-reported-bytes" />
            </Figure>
            <Figure label="Free before">
              <Bytes value={result.freeBytesBefore} testId="free-before" />
            </Figure>
            <Figure label="Free after">
              <Bytes value={result.freeBytesAfter} testId="free-after" />
            </Figure>
          </dl>
          <p className="text-sm text-slate-700">
            Free space changed by {result.freeBytesAfter >= result.freeBytesBefore ? '+' : '−'}
            <Bytes value={Math.abs(result.freeBytesAfter - result.freeBytesBefore)} testId="free-change" />.
          </p>
          <p className="text-xs text-slate-500">
            Free space is the data root's filesystem (statfs) right before and after; it also moves with anything else
            writing to that disk. The engine's figure is Docker's SpaceReclaimed where the call reports one.
          </p>
          {result.error ? <p className="text-sm text-red-700">{result.error}</p> : null}
          <ObjectTable
            label="Per-object result"
            rows={result.items.map((i) => ({
              key: `${i.type}:${i.id}`,
              type: i.type,
              name: i.name,
              id: i.id,
              bytes: i.bytes,
              extra: (
                <span
                  data-testid="item-outcome"
                  className={
                    i.outcome === 'done'
                      ? 'text-emerald-800'
                      : i.outcome === 'failed'
                        ? 'text-red-700'
                        : 'text-amber-800'
                  }
                >
                  {i.outcome}
                  {i.reason ? `: ${i.reason}` : ''}
                </span>
              ),
            }))}
            extraHeader="Outcome"
          />
        </section>
      ) : null}

      {plan ? (
        <section aria-label="Plan" className="space-y-3">
          <h2 className="font-semibold">
            Plan: {plan.items.length} object{plan.items.length === 1 ? '' : 's'},{' '}
            <Bytes value={plan.totalBytes} testId="plan-total-bytes" />
          </h2>
          <p className="text-xs text-slate-500">
            Computed by the agent at {new Date(plan.plannedAt).toLocaleString()} (digest{' '}
            <span className="font-mono">{plan.digest.slice(0, 16)}</span>). Execution acts on these objects only and
            re-checks each one right before acting. Bytes are exclusive bytes: what removing the object frees on its
            own.
          </p>
          {plan.notes.length > 0 ? (
            <ul className="list-disc space-y-1 rounded-md border border-amber-200 bg-amber-50 p-3 pl-6 text-sm text-amber-900">
              {plan.notes.map((n) => (
                <li key={n}>{n}</li>
              ))}
            </ul>
          ) : null}
          {plan.configChange ? <ConfigDiff change={plan.configChange} /> : null}
          {plan.items.length > 0 ? (
            <ObjectTable
              label="Planned objects"
              rows={plan.items.map((i) => ({
                key: `${i.type}:${i.id}`,
                type: i.type,
                name: i.name,
                id: i.id,
                bytes: i.bytes,
                extra: <span className="text-xs text-slate-500">{i.note ?? ''}</span>,
              }))}
              extraHeader="Note"
              total={plan.totalBytes}
            />
          ) : (
            <p className="text-sm text-slate-600">Nothing to act on: the plan is empty.</p>
          )}
          {plan.skipped.length > 0 ? (
            <details className="rounded-lg border border-slate-200 bg-white p-3 text-sm">
              <summary className="cursor-pointer font-medium">
                {plan.skipped.length} object{plan.skipped.length === 1 ? '' : 's'} skipped, and why
              </summary>
              <ul className="mt-2 space-y-1" aria-label="Skipped objects">
                {plan.skipped.map((s) => (
                  <li key={`${s.type}:${s.id}`} data-testid="skipped-object">
                    <span className="font-medium">{s.name || short(s.id)}</span>{' '}
                    <span className="text-slate-500">({s.type})</span>: {s.reason}
                  </li>
                ))}
              </ul>
            </details>
          ) : null}
        </section>
      ) : j.state === 'requested' || j.state === 'planning' ? (
        <p role="status" className="rounded-md border border-sky-200 bg-sky-50 p-3 text-sm text-sky-900">
          Waiting for the plan: {STATE_HINTS[j.state]}. It appears here as soon as the agent answers.
        </p>
      ) : null}

      <section aria-label="Parameters" className="text-sm">
        <h2 className="font-semibold">Parameters</h2>
        <pre className="mt-1 overflow-x-auto rounded bg-slate-100 p-2 text-xs">{JSON.stringify(j.params, null, 2)}</pre>
      </section>
    </div>
  );
}

function Figure({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-3">
      <dt className="text-xs uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className="text-lg font-semibold tabular-nums">{children}</dd>
    </div>
  );
}

function ObjectTable({
  label,
  rows,
  extraHeader,
  total,
}: {
  label: string;
  rows: { key: string; type: string; name: string; id: string; bytes: number; extra: ReactNode }[];
  extraHeader: string;
  total?: number;
}) {
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
      <table className={tableClass} aria-label={label}>
        <thead className={theadClass}>
          <tr>
            <th scope="col" className="px-3 py-2">
              Object
            </th>
            <th scope="col" className="px-3 py-2">
              Type
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Bytes
            </th>
            <th scope="col" className="px-3 py-2">
              {extraHeader}
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {rows.map((r) => (
            <tr key={r.key} data-testid="object-row" data-object-id={r.id}>
              <td className={cell}>
                <div className="font-medium">{r.name || short(r.id)}</div>
                <div className="font-mono text-xs text-slate-500" title={r.id}>
                  {short(r.id)}
                </div>
              </td>
              <td className={cell}>{r.type}</td>
              <td className={num}>
                <Bytes value={r.bytes} />
              </td>
              <td className={cell}>{r.extra}</td>
            </tr>
          ))}
        </tbody>
        {total !== undefined ? (
          <tfoot className="border-t border-slate-200 font-medium">
            <tr>
              <td className={cell} colSpan={2}>
                Total
              </td>
              <td className={num}>
                <Bytes value={total} />
              </td>
              <td />
            </tr>
          </tfoot>
        ) : null}
      </table>
    </div>
  );
}

/** daemon.json before and after, line by line: removed lines red, added lines green. */
function ConfigDiff({ change }: { change: ConfigChange }) {
  const before = (change.before ?? '').split('\n');
  const after = change.after.split('\n');
  const beforeSet = new Set(before);
  const afterSet = new Set(after);
  return (
    <section aria-label="daemon.json change" className="space-y-1 text-sm">
      <h3 className="font-medium">
        <span className="font-mono">{change.path}</span> change
      </h3>
      <p className="text-xs text-slate-500">
        {change.before === null
          ? 'The file does not exist yet.'
          : `The current file is backed up to ${change.backupPath}.`}{' '}
        {change.restartRequired
          ? 'It takes effect only after you restart the Docker daemon yourself; the agent never restarts it.'
          : ''}
      </p>
      <pre className="overflow-x-auto rounded bg-slate-50 p-2 font-mono text-xs" data-testid="config-diff">
        {before
          .filter((line) => !afterSet.has(line) && change.before !== null)
          .map((line, n) => (
            <div key={`-${n}-${line}`} className="bg-red-50 text-red-800">
              - {line}
            </div>
          ))}
        {after.map((line, n) => (
          <div
            key={`+${n}-${line}`}
            className={beforeSet.has(line) ? 'text-slate-600' : 'bg-emerald-50 text-emerald-800'}
          >
            {beforeSet.has(line) ? ' ' : '+'} {line}
          </div>
        ))}
      </pre>
    </section>
  );
}

interface ActionJob {
  id: string;
  kind: string;
  state: string;
  confirmationPhrase: string | null;
}

/** Approve and Cancel, for operators; volume removal asks for a typed confirmation first. */
function Actions({ job }: { job: ActionJob }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const role = useRole();
  const [confirmation, setConfirmation] = useState('');
  const confirmId = useId();
  const refresh = { onSuccess: () => void queryClient.invalidateQueries() };
  const approve = useMutation(trpc.job.approve.mutationOptions(refresh));
  const cancel = useMutation(trpc.job.cancel.mutationOptions(refresh));
  if (!canOperate(role)) {
    return job.state === 'planned' ? (
      <p className="text-sm text-slate-600">An operator approves this plan before anything runs.</p>
    ) : null;
  }
  const cancellable = ['requested', 'planning', 'planned', 'approved'].includes(job.state);
  const phrase = job.confirmationPhrase;
  const confirmed = phrase === null || confirmation.trim() === phrase;
  if (job.state !== 'planned' && !cancellable) return null;
  return (
    <section aria-label="Decision" className="space-y-2 rounded-lg border border-slate-200 bg-white p-3">
      {job.state === 'planned' && phrase !== null ? (
        <div className="space-y-1 text-sm">
          <label htmlFor={confirmId} className="block font-medium text-red-900">
            Removing volumes destroys their data. Type <span className="font-mono">{phrase}</span> to approve.
          </label>
          <input
            id={confirmId}
            className={inputClass}
            value={confirmation}
            autoComplete="off"
            onChange={(e) => setConfirmation(e.target.value)}
          />
        </div>
      ) : null}
      <div className="flex flex-wrap items-center gap-3">
        {job.state === 'planned' ? (
          <button
            type="button"
            className={phrase === null ? buttonClass : dangerButtonClass}
            disabled={!confirmed || approve.isPending}
            onClick={() => approve.mutate({ id: job.id, ...(phrase !== null && { confirmation }) })}
          >
            {approve.isPending ? 'Approving…' : 'Approve'}
          </button>
        ) : null}
        {cancellable ? (
          <button
            type="button"
            className={secondaryButtonClass}
            disabled={cancel.isPending}
            onClick={() => cancel.mutate({ id: job.id })}
          >
            {cancel.isPending ? 'Cancelling…' : 'Cancel job'}
          </button>
        ) : null}
        {approve.isError || cancel.isError ? (
          <span role="alert" className="text-sm text-red-700">
            {errorText(approve.error ?? cancel.error)}
          </span>
        ) : null}
      </div>
    </section>
  );
}
