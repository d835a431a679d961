'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useTRPC } from '~/trpc/react';
import { Bytes, LoadError, Loading, tableClass, theadClass } from '../dashboard/figures';
import { StateBadge } from './common';

/** The host page's recent jobs, newest first. */
export function HostJobs({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const jobs = useQuery(trpc.job.list.queryOptions({ hostId, limit: 10 }));
  return (
    <section aria-label="Jobs on this host" className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
      <h2 className="flex items-baseline gap-3 px-3 pt-3 font-semibold">
        Jobs
        <Link className="text-sm font-normal text-sky-700 underline" href={`/jobs?host=${hostId}`}>
          all jobs of this host
        </Link>
      </h2>
      {jobs.isPending ? (
        <div className="p-3">
          <Loading what="jobs" />
        </div>
      ) : jobs.isError ? (
        <div className="p-3">
          <LoadError what="jobs" message={jobs.error.message} />
        </div>
      ) : jobs.data.length === 0 ? (
        <p className="p-3 text-sm text-slate-500">No jobs yet: use Plan on an opportunity above.</p>
      ) : (
        <table className={tableClass} aria-label="Jobs on this host">
          <thead className={theadClass}>
            <tr>
              <th scope="col" className="px-3 py-2">
                Job
              </th>
              <th scope="col" className="px-3 py-2">
                State
              </th>
              <th scope="col" className="px-3 py-2 text-right">
                Planned
              </th>
              <th scope="col" className="px-3 py-2 text-right">
                Freed
              </th>
              <th scope="col" className="px-3 py-2">
                Created
              </th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {jobs.data.map((j) => (
              <tr key={j.id} data-testid="host-job" data-job-id={j.id}>
                <td className="px-3 py-2">
                  <Link className="text-sky-700 underline" href={`/jobs/${j.id}`}>
                    {j.kindLabel}
                  </Link>
                </td>
                <td className="px-3 py-2">
                  <StateBadge state={j.state} />
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={j.plannedBytes} />
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={j.bytesFreed} />
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-slate-600">{j.createdAt.toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
