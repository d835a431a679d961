'use client';

import { formatBytes } from '@ballast/shared/format';
import { OPPORTUNITY_KINDS, type OpportunityKind } from '@ballast/shared/savings/kinds';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useEffect, useMemo, useState } from 'react';
import { useTRPC } from '~/trpc/react';
import { CampaignAction, PlanAction } from '../jobs/plan';
import {
  Bytes,
  Empty,
  LoadError,
  Loading,
  MeasurementNote,
  Money,
  RiskBadge,
  tableClass,
  theadClass,
  useLiveUpdates,
} from './figures';

type SortKey = 'monthlyCost' | 'reclaimableBytes';
type Risk = 'low' | 'medium' | 'high';
const selectClass =
  'rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm focus:border-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-600/30';

export function OpportunitiesTable() {
  const trpc = useTRPC();
  const [sort, setSort] = useState<SortKey>('monthlyCost');
  const [direction, setDirection] = useState<'asc' | 'desc'>('desc');
  const [kind, setKind] = useState<OpportunityKind | ''>('');
  const [risk, setRisk] = useState<Risk | ''>('');
  const [hostLabel, setHostLabel] = useState('');
  const input = {
    sort,
    direction,
    limit: 200,
    ...(kind && { kind }),
    ...(risk && { risk }),
    ...(hostLabel.trim() && { hostLabel: hostLabel.trim() }),
  };
  const list = useQuery({ ...trpc.opportunity.list.queryOptions(input), placeholderData: keepPreviousData });
  useLiveUpdates();

  // Selection starts from each opportunity's default (volumes are never preselected).
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [touched, setTouched] = useState(false);
  const rows = list.data ?? [];
  const defaults = useMemo(
    () => new Set(rows.filter((o) => o.defaultSelected).map((o) => `${o.hostId}:${o.kind}`)),
    [rows],
  );
  useEffect(() => {
    if (!touched) setSelected(defaults);
  }, [defaults, touched]);
  const toggle = (key: string) => {
    setTouched(true);
    setSelected((previous) => {
      const next = new Set(previous);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  };
  const chosen = rows.filter((o) => selected.has(`${o.hostId}:${o.kind}`));
  const chosenBytes = chosen.reduce((sum, o) => sum + o.reclaimableBytes, 0);
  const chosenCost = chosen.reduce((sum, o) => sum + o.monthlyCost, 0);

  const sortButton = (key: SortKey, label: string) => {
    const active = sort === key;
    return (
      <button
        type="button"
        className="inline-flex items-center gap-1 uppercase hover:text-slate-900 focus:outline-none focus-visible:ring-2 focus-visible:ring-sky-600"
        onClick={() => {
          if (active) setDirection(direction === 'desc' ? 'asc' : 'desc');
          else {
            setSort(key);
            setDirection('desc');
          }
        }}
      >
        {label}
        <span aria-hidden>{active ? (direction === 'desc' ? '▼' : '▲') : '↕'}</span>
      </button>
    );
  };
  const ariaSort = (key: SortKey) => (sort === key ? (direction === 'desc' ? 'descending' : 'ascending') : 'none');

  return (
    <div className="space-y-4">
      <form className="flex flex-wrap items-end gap-3" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label className="text-sm">
          <span className="block font-medium">Kind</span>
          <select
            className={selectClass}
            value={kind}
            onChange={(e) => setKind(e.target.value as OpportunityKind | '')}
          >
            <option value="">All kinds</option>
            {OPPORTUNITY_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="block font-medium">Risk</span>
          <select className={selectClass} value={risk} onChange={(e) => setRisk(e.target.value as Risk | '')}>
            <option value="">Any risk</option>
            <option value="low">low</option>
            <option value="medium">medium</option>
            <option value="high">high</option>
          </select>
        </label>
        <label className="text-sm">
          <span className="block font-medium">Host label or group</span>
          <input
            className={selectClass}
            placeholder="env=prod"
            value={hostLabel}
            onChange={(e) => setHostLabel(e.target.value)}
          />
        </label>
      </form>

      {list.isPending ? (
        <Loading what="opportunities" />
      ) : list.isError ? (
        <LoadError what="opportunities" message={list.error.message} />
      ) : rows.length === 0 ? (
        <Empty>
          <p className="font-medium">No opportunities match.</p>
          <p>Either nothing is reclaimable under the current policy, or the filters exclude it.</p>
        </Empty>
      ) : (
        <>
          <div className="flex flex-wrap items-center gap-4 rounded-lg border border-slate-200 bg-white p-3 text-sm">
            <span data-testid="selection-summary">
              {chosen.length} selected: <Bytes value={chosenBytes} /> · <Money value={chosenCost} />
            </span>
            <CampaignAction selected={chosen} />
          </div>
          <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
            <table className={tableClass} aria-label="Opportunities">
              <thead className={theadClass}>
                <tr>
                  <th scope="col" className="px-3 py-2">
                    <span className="sr-only">Selected</span>
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Opportunity
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Host
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Risk
                  </th>
                  <th scope="col" className="px-3 py-2 text-right" aria-sort={ariaSort('reclaimableBytes')}>
                    {sortButton('reclaimableBytes', 'Reclaimable')}
                  </th>
                  <th scope="col" className="px-3 py-2 text-right" aria-sort={ariaSort('monthlyCost')}>
                    {sortButton('monthlyCost', 'Cost')}
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Action
                  </th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {rows.map((o) => {
                  const key = `${o.hostId}:${o.kind}`;
                  return (
                    <tr key={key} data-testid="opportunity-row" data-kind={o.kind}>
                      <td className="px-3 py-2 align-top">
                        <input
                          type="checkbox"
                          aria-label={`Select ${o.title} on ${o.hostname}`}
                          checked={selected.has(key)}
                          onChange={() => toggle(key)}
                        />
                      </td>
                      <td className="px-3 py-2 align-top">
                        <div className="font-medium">{o.title}</div>
                        <div className="text-xs text-slate-500">{o.explanation}</div>
                        {o.logGrowthBytesPerDay != null && (
                          <div className="text-xs text-slate-700" data-testid="log-growth">
                            Logs on this host grow {o.logGrowthBytesPerDay < 0 ? '−' : '+'}
                            {formatBytes(Math.abs(Math.round(o.logGrowthBytesPerDay)))} per day (14-day fit of hourly
                            log bytes)
                          </div>
                        )}
                        {o.caveats.length > 0 && (
                          <ul className="mt-1 list-disc pl-4 text-xs text-amber-800">
                            {o.caveats.map((c) => (
                              <li key={c}>{c}</li>
                            ))}
                          </ul>
                        )}
                        <div className="text-xs text-slate-400">
                          {o.kind} · {o.confidence}
                        </div>
                      </td>
                      <td className="px-3 py-2 align-top">
                        <Link className="text-sky-700 underline" href={`/hosts/${o.hostId}`}>
                          {o.hostname}
                        </Link>
                      </td>
                      <td className="px-3 py-2 align-top">
                        <RiskBadge risk={o.risk} />
                      </td>
                      <td className="whitespace-nowrap px-3 py-2 text-right align-top tabular-nums">
                        <Bytes value={o.reclaimableBytes} testId="reclaimable-bytes" />
                      </td>
                      <td className="whitespace-nowrap px-3 py-2 text-right align-top tabular-nums">
                        <Money value={o.monthlyCost} testId="monthly-cost" />
                      </td>
                      <td className="px-3 py-2 align-top">
                        <PlanAction opportunity={o} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
      <MeasurementNote>
        <p>
          Each row is one kind of waste on one host, computed by the savings engine from the host's latest snapshot with
          the organization's policy. Image bytes are layers (layerdb size) no kept image or container uses; container
          bytes are writable layers (<code>SizeRw</code>); log bytes are the <code>stat</code> size of log files; build
          cache bytes are BuildKit's reclaimable records; volume bytes are a walk of the volume (apparent size).
        </p>
        <p>"exact" means the bytes leave the disk; "partial" means some may stay held elsewhere (see the caveats).</p>
      </MeasurementNote>
    </div>
  );
}
