'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '~/trpc/react';
import { Bytes, Empty, LoadError, Loading, Money, tableClass, theadClass, useLiveUpdates } from './figures';

type By = 'kind' | 'group' | 'host' | 'image';
const BY_LABELS: Record<By, string> = { kind: 'Kind', group: 'Host group', host: 'Host', image: 'Image' };

/** The fleet's opportunities added up by kind, host group, host or image, most money first. */
export function OpportunitySummary() {
  const trpc = useTRPC();
  const [by, setBy] = useState<By>('kind');
  const summary = useQuery({
    ...trpc.opportunity.summary.queryOptions({ by, limit: 20 }),
    placeholderData: keepPreviousData,
  });
  useLiveUpdates();
  return (
    <section className="space-y-2" aria-labelledby="summary-title">
      <div className="flex flex-wrap items-center gap-3">
        <h2 id="summary-title" className="font-semibold">
          Where the money is
        </h2>
        <fieldset className="flex gap-1 text-sm" aria-label="Sum by">
          {(Object.keys(BY_LABELS) as By[]).map((key) => (
            <label
              key={key}
              className={`cursor-pointer rounded-md border px-2 py-1 focus-within:ring-2 focus-within:ring-sky-600 ${
                by === key ? 'border-sky-700 bg-sky-50 text-sky-900' : 'border-slate-300 bg-white'
              }`}
            >
              <input
                type="radio"
                name="summary-by"
                value={key}
                checked={by === key}
                onChange={() => setBy(key)}
                className="sr-only"
              />
              {BY_LABELS[key]}
            </label>
          ))}
        </fieldset>
      </div>
      {summary.isPending ? (
        <Loading what="the summary" />
      ) : summary.isError ? (
        <LoadError what="the summary" message={summary.error.message} />
      ) : summary.data.length === 0 ? (
        <Empty>Nothing reclaimable yet.</Empty>
      ) : (
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
          <table className={tableClass} aria-label={`Opportunities by ${BY_LABELS[by].toLowerCase()}`}>
            <thead className={theadClass}>
              <tr>
                <th scope="col" className="px-3 py-2">
                  {BY_LABELS[by]}
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Hosts
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Reclaimable
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Cost per month
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {summary.data.map((row) => (
                <tr key={row.key ?? '(none)'} data-testid="summary-row">
                  <td className="px-3 py-2">
                    {row.key === null ? (
                      <span className="text-slate-500">no group</span>
                    ) : (
                      <span className={by === 'image' ? 'font-mono text-xs' : ''} title={row.key}>
                        {row.label ?? row.key}
                      </span>
                    )}
                  </td>
                  <td className="px-3 py-2 text-right tabular-nums">{row.hosts}</td>
                  <td className="px-3 py-2 text-right">
                    <Bytes value={row.reclaimableBytes} />
                  </td>
                  <td className="px-3 py-2 text-right">
                    <Money value={row.monthlyCost} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {by === 'image' && (
        <p className="text-xs text-slate-500">
          By image: each image's exclusive bytes in the dangling and unused image opportunities of every host, priced at
          that host's rate. Removing several images together can free more (layers shared only among them); the per-host
          rows below include that.
        </p>
      )}
    </section>
  );
}
