'use client';

import { JOB_KINDS } from '@ballast/shared/jobs';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { useTRPC } from '~/trpc/react';
import { Bytes, Empty, LoadError, Loading, tableClass, theadClass, useLiveUpdates } from '../dashboard/figures';
import { inputClass, kindLabel } from './common';

const cell = 'px-3 py-2 align-top';
/** A date input's day as the start of that day, local time, in ISO form. */
const dayStart = (day: string) => (day ? new Date(`${day}T00:00:00`).toISOString() : '');
const dayEnd = (day: string) => (day ? new Date(new Date(`${day}T00:00:00`).getTime() + 86_400_000).toISOString() : '');

/** Every job and campaign change (who, which host, which plan, how many bytes), with filters and CSV. */
export function AuditLog() {
  const trpc = useTRPC();
  const [actor, setActor] = useState('');
  const [hostId, setHostId] = useState('');
  const [kind, setKind] = useState('');
  const [fromDay, setFromDay] = useState('');
  const [toDay, setToDay] = useState('');
  const hosts = useQuery(trpc.host.list.queryOptions());
  const filters = {
    ...(actor.trim() && { actor: actor.trim() }),
    ...(hostId && { hostId }),
    ...(kind && { kind }),
    ...(fromDay && { from: dayStart(fromDay) }),
    ...(toDay && { to: dayEnd(toDay) }),
  };
  const jobKind = JOB_KINDS.find((k) => k === kind);
  const audit = useQuery({
    ...trpc.job.audit.queryOptions({
      limit: 500,
      ...(filters.actor && { actor: filters.actor }),
      ...(hostId && { hostId }),
      ...(jobKind && { kind: jobKind }),
      ...(filters.from && { from: new Date(filters.from) }),
      ...(filters.to && { to: new Date(filters.to) }),
    }),
    placeholderData: keepPreviousData,
  });
  useLiveUpdates();
  const csv = `/api/export/audit.csv?${new URLSearchParams(filters)}`;

  return (
    <div className="space-y-4">
      <form className="flex flex-wrap items-end gap-3" aria-label="Audit filters" onSubmit={(e) => e.preventDefault()}>
        <label className="text-sm">
          <span className="block font-medium">Actor</span>
          <input
            className={inputClass}
            placeholder="user:… or system"
            value={actor}
            onChange={(e) => setActor(e.target.value)}
          />
        </label>
        <label className="text-sm">
          <span className="block font-medium">Host</span>
          <select className={inputClass} value={hostId} onChange={(e) => setHostId(e.target.value)}>
            <option value="">All hosts</option>
            {(hosts.data ?? []).map((h) => (
              <option key={h.id} value={h.id}>
                {h.hostname}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="block font-medium">Kind</span>
          <select className={inputClass} value={kind} onChange={(e) => setKind(e.target.value)}>
            <option value="">All kinds</option>
            {JOB_KINDS.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="block font-medium">From</span>
          <input type="date" className={inputClass} value={fromDay} onChange={(e) => setFromDay(e.target.value)} />
        </label>
        <label className="text-sm">
          <span className="block font-medium">To (inclusive)</span>
          <input type="date" className={inputClass} value={toDay} onChange={(e) => setToDay(e.target.value)} />
        </label>
        <a className="text-sm text-sky-700 underline" href={csv} data-testid="audit-csv">
          Export CSV
        </a>
      </form>

      {audit.isPending ? (
        <Loading what="the audit log" />
      ) : audit.isError ? (
        <LoadError what="the audit log" message={audit.error.message} />
      ) : audit.data.length === 0 ? (
        <Empty>
          <p className="font-medium">No audit rows match.</p>
          <p>Every job state change is recorded here, with who made it.</p>
        </Empty>
      ) : (
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
          <table className={tableClass} aria-label="Audit log">
            <thead className={theadClass}>
              <tr>
                <th scope="col" className="px-3 py-2">
                  When
                </th>
                <th scope="col" className="px-3 py-2">
                  Actor
                </th>
                <th scope="col" className="px-3 py-2">
                  Change
                </th>
                <th scope="col" className="px-3 py-2">
                  Host
                </th>
                <th scope="col" className="px-3 py-2">
                  Job
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Planned
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Freed
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {audit.data.map((row) => {
                const d = row.details;
                const num = (v: unknown) => (typeof v === 'number' ? v : null);
                return (
                  <tr key={row.id} data-testid="audit-row" data-action={row.action}>
                    <td className={`${cell} whitespace-nowrap`}>{row.at.toLocaleString()}</td>
                    <td className={cell} title={row.actor}>
                      {row.actorName}
                    </td>
                    <td className={cell}>
                      <div className="font-medium">{row.action}</div>
                      {typeof d.reason === 'string' ? <div className="text-xs text-slate-500">{d.reason}</div> : null}
                    </td>
                    <td className={cell}>
                      {typeof d.hostId === 'string' ? (
                        <Link className="text-sky-700 underline" href={`/hosts/${d.hostId}`}>
                          {typeof d.hostname === 'string' ? d.hostname : d.hostId}
                        </Link>
                      ) : null}
                    </td>
                    <td className={cell}>
                      {row.action.startsWith('job.') && row.target ? (
                        <Link className="text-sky-700 underline" href={`/jobs/${row.target}`}>
                          {typeof d.kind === 'string' ? kindLabel(d.kind) : row.target}
                        </Link>
                      ) : typeof d.kind === 'string' ? (
                        kindLabel(d.kind)
                      ) : null}
                      {typeof d.planDigest === 'string' ? (
                        <div className="font-mono text-xs text-slate-500">plan {d.planDigest.slice(0, 12)}</div>
                      ) : null}
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-right align-top tabular-nums">
                      {num(d.plannedBytes) === null ? null : <Bytes value={num(d.plannedBytes)} />}
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-right align-top tabular-nums">
                      {num(d.bytesFreed) === null ? null : <Bytes value={num(d.bytesFreed)} />}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
