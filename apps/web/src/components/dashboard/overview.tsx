'use client';

import { formatBytes } from '@ballast/shared/format';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useTRPC } from '~/trpc/react';
import {
  Bytes,
  Card,
  Empty,
  LoadError,
  Loading,
  MeasurementNote,
  Money,
  RiskBadge,
  tableClass,
  thClass,
  theadClass,
  useLiveUpdates,
} from './figures';

const day = (date: Date) => date.toISOString().slice(0, 10);

export function FleetOverview() {
  const trpc = useTRPC();
  const overview = useQuery({ ...trpc.fleet.overview.queryOptions(), refetchInterval: 60_000 });
  useLiveUpdates();

  if (overview.isPending) return <Loading what="the fleet overview" />;
  if (overview.isError) return <LoadError what="the fleet overview" message={overview.error.message} />;
  const data = overview.data;
  if (data.hostCount === 0) {
    return (
      <Empty>
        <p className="font-medium">No hosts yet.</p>
        <p>Start an agent; the fleet's figures appear here after its first snapshot.</p>
      </Empty>
    );
  }
  const trend = data.trend.map((point) => ({ day: day(point.day), used: point.usedBytes, docker: point.dockerBytes }));

  return (
    <div className="space-y-6">
      <div className="grid grid-cols-1 gap-4 md:grid-cols-4">
        <Card title="Disk used (all hosts)" testId="fleet-used">
          <Bytes value={data.usedBytes} />
          <span className="ml-1 text-sm font-normal text-slate-500">
            of <Bytes value={data.sizeBytes} />
          </span>
        </Card>
        <Card title="Docker data" testId="fleet-docker">
          <Bytes value={data.dockerBytes} />
        </Card>
        <Card title="Reclaimable" testId="fleet-reclaimable">
          <Bytes value={data.reclaimableBytes} />
        </Card>
        <Card title="Cost of reclaimable" testId="fleet-cost">
          <Money value={data.monthlyCost} />
        </Card>
      </div>

      <section className="rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="trend-title">
        <h2 id="trend-title" className="mb-2 font-semibold">
          Fleet usage, last 30 days
        </h2>
        {trend.length === 0 ? (
          <p className="text-sm text-slate-500">No history yet.</p>
        ) : (
          <div className="h-64" role="img" aria-label={`Daily disk used and Docker data over ${trend.length} days`}>
            <ResponsiveContainer width="100%" height="100%">
              <LineChart data={trend} margin={{ left: 16, right: 16 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
                <XAxis dataKey="day" fontSize={12} />
                <YAxis tickFormatter={(v: number) => formatBytes(v)} fontSize={12} width={80} />
                <Tooltip formatter={(v) => formatBytes(Number(v))} />
                <Line
                  type="monotone"
                  dataKey="used"
                  name="Disk used"
                  stroke="#0369a1"
                  dot={false}
                  isAnimationActive={false}
                />
                <Line
                  type="monotone"
                  dataKey="docker"
                  name="Docker data"
                  stroke="#d97706"
                  dot={false}
                  isAnimationActive={false}
                />
              </LineChart>
            </ResponsiveContainer>
          </div>
        )}
      </section>

      <div className="grid grid-cols-1 gap-6 lg:grid-cols-2">
        <section aria-labelledby="top-title" className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
          <h2 id="top-title" className="px-3 pt-3 font-semibold">
            Top opportunities
          </h2>
          {data.topOpportunities.length === 0 ? (
            <p className="p-3 text-sm text-slate-500">Nothing to reclaim under the current policy.</p>
          ) : (
            <table className={tableClass} aria-label="Top opportunities">
              <thead className={theadClass}>
                <tr>
                  <th scope="col" className={thClass}>
                    Opportunity
                  </th>
                  <th scope="col" className={thClass}>
                    Host
                  </th>
                  <th scope="col" className={`${thClass} text-right`}>
                    Bytes
                  </th>
                  <th scope="col" className={`${thClass} text-right`}>
                    Cost
                  </th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {data.topOpportunities.map((o) => (
                  <tr key={`${o.hostId}:${o.kind}`} data-testid="top-opportunity">
                    <td className="px-3 py-2">
                      {o.title} <RiskBadge risk={o.risk} />
                    </td>
                    <td className="px-3 py-2">
                      <Link className="text-sky-700 underline" href={`/hosts/${o.hostId}`}>
                        {o.hostname}
                      </Link>
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                      <Bytes value={o.reclaimableBytes} />
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                      <Money value={o.monthlyCost} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="px-3 pb-3 text-sm">
            <Link className="text-sky-700 underline" href="/opportunities">
              All opportunities
            </Link>
          </p>
        </section>

        <section aria-labelledby="full-title" className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
          <h2 id="full-title" className="px-3 pt-3 font-semibold">
            Nearest to a full disk
          </h2>
          {data.nearestToFull.length === 0 ? (
            <p className="p-3 text-sm text-slate-500">No host's disk usage is growing.</p>
          ) : (
            <table className={tableClass} aria-label="Hosts nearest to a full disk">
              <thead className={theadClass}>
                <tr>
                  <th scope="col" className={thClass}>
                    Host
                  </th>
                  <th scope="col" className={`${thClass} text-right`}>
                    Free
                  </th>
                  <th scope="col" className={`${thClass} text-right`}>
                    Growth/day
                  </th>
                  <th scope="col" className={`${thClass} text-right`}>
                    Full in
                  </th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {data.nearestToFull.map((h) => (
                  <tr key={h.hostId} data-testid="near-full">
                    <td className="px-3 py-2">
                      <Link className="text-sky-700 underline" href={`/hosts/${h.hostId}`}>
                        {h.hostname}
                      </Link>
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                      <Bytes value={Math.max(0, h.sizeBytes - h.usedBytes)} />
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                      <Bytes value={Math.round(h.growthBytesPerDay)} />
                    </td>
                    <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums" title={h.fullAt.toISOString()}>
                      {h.daysUntilFull.toFixed(1)} days
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>

      <MeasurementNote>
        <p>
          Disk used is the sum over hosts of <code>statfs</code> of each Docker data root (size − free blocks). Docker
          data is the sum of the images, containers, logs, volumes and build cache figures each agent reports (see the
          Hosts page).
        </p>
        <p>
          Reclaimable is the sum of each host's opportunities at its latest snapshot. Image bytes count only layers no
          kept image or container uses (removing several images together frees the layers only they share). Cost is
          reclaimable GB (10<sup>9</sup> bytes) × the organization's price per GB-month.
        </p>
        <p>
          The trend sums each host's last hourly reading of each UTC day. "Full in" is a least-squares fit of hourly
          disk used over the last 14 days; hosts whose usage is flat or shrinking are not listed.
        </p>
      </MeasurementNote>
    </div>
  );
}
