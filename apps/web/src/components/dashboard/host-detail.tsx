'use client';

import { formatBytes } from '@ballast/shared/format';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { useTRPC } from '~/trpc/react';
import { HostJobs } from '../jobs/host-jobs';
import { PlanAction } from '../jobs/plan';
import { HostContent } from './content';
import {
  Bytes,
  CATEGORY_COLORS,
  CATEGORY_LABELS,
  Card,
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

const DAY_MS = 86_400_000;
const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

function Table({ label, headers, children }: { label: string; headers: [string, boolean][]; children: ReactNode }) {
  return (
    <section aria-label={label} className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
      <h2 className="px-3 pt-3 font-semibold">{label}</h2>
      <table className={tableClass} aria-label={label}>
        <thead className={theadClass}>
          <tr>
            {headers.map(([text, right]) => (
              <th key={text} scope="col" className={`px-3 py-2 ${right ? 'text-right' : ''}`}>
                {text}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">{children}</tbody>
      </table>
    </section>
  );
}

const num = 'whitespace-nowrap px-3 py-2 text-right tabular-nums';
const cell = 'px-3 py-2';

export function HostDetail({ hostId }: { hostId: string }) {
  const trpc = useTRPC();
  const detail = useQuery({ ...trpc.host.detail.queryOptions({ id: hostId }), refetchInterval: 60_000 });
  useLiveUpdates();

  if (detail.isPending) return <Loading what="the host" />;
  if (detail.isError) return <LoadError what="the host" message={detail.error.message} />;
  const { host, inventory, opportunities, history, forecast } = detail.data;

  const header = (
    <div>
      <h1 className="text-2xl font-semibold" data-testid="host-name">
        {host.hostname}
      </h1>
      <p className="text-sm text-slate-600">
        <span className={host.connected ? 'text-emerald-700' : 'text-slate-500'}>
          {host.connected ? 'connected' : 'offline'}
        </span>{' '}
        · Docker {host.engineVersion ?? '?'} · {host.storageDriver ?? '?'} · {host.dataRoot ?? '?'}
        {Object.entries(host.labels).map(([k, v]) => (
          <span key={k} className="ml-2 rounded bg-slate-100 px-1.5 py-0.5 text-xs">
            {k}={v}
          </span>
        ))}
      </p>
    </div>
  );
  if (!inventory) {
    return (
      <div className="space-y-4">
        {header}
        <Empty>This host has not sent a snapshot yet.</Empty>
      </div>
    );
  }

  const categories = (Object.keys(CATEGORY_LABELS) as (keyof typeof CATEGORY_LABELS)[]).map((key) => ({
    key,
    name: CATEGORY_LABELS[key],
    bytes: inventory.totals[key],
  }));
  const lastPoint = history.at(-1);
  const historyData = history.map((p) => ({
    at: p.hour.getTime(),
    used: p.fsUsedBytes,
    forecast: null as number | null,
  }));
  // The forecast line runs from the latest reading to the day the disk fills (capped at 30 days ahead).
  if (lastPoint?.fsUsedBytes != null && lastPoint.fsSizeBytes != null && forecast.growthBytesPerDay > 0) {
    const last = historyData.at(-1);
    if (last) last.forecast = lastPoint.fsUsedBytes;
    const days = Math.min(30, forecast.daysUntilFull ?? 30);
    historyData.push({
      at: lastPoint.hour.getTime() + days * DAY_MS,
      used: null,
      forecast: Math.min(lastPoint.fsSizeBytes, lastPoint.fsUsedBytes + forecast.growthBytesPerDay * days),
    });
  }
  const fs = inventory.filesystem;

  return (
    <div className="space-y-6">
      {header}
      <div className="grid grid-cols-1 gap-4 md:grid-cols-4">
        <Card title="Disk used" testId="host-used">
          <Bytes value={fs?.usedBytes} />
          <span className="ml-1 text-sm font-normal text-slate-500">
            of <Bytes value={fs?.sizeBytes} />
          </span>
        </Card>
        <Card title="Disk free" testId="host-free">
          <Bytes value={fs?.freeBytes} />
        </Card>
        <Card title="Reclaimable" testId="host-reclaimable">
          <Bytes value={opportunities.reduce((s, o) => s + o.reclaimableBytes, 0)} />
        </Card>
        <Card title="Disk full" testId="host-forecast">
          {forecast.daysUntilFull === null ? (
            <span className="text-base font-normal text-slate-500">not growing</span>
          ) : (
            <span title={forecast.fullAt?.toISOString()}>in {forecast.daysUntilFull.toFixed(1)} days</span>
          )}
          {forecast.best?.daysBought != null && (
            <p className="mt-1 text-xs font-normal text-slate-600" data-testid="host-best-action">
              First: {forecast.best.title} ({forecast.best.risk} risk) buys {forecast.best.daysBought.toFixed(1)} days
            </p>
          )}
        </Card>
      </div>

      <div className="grid grid-cols-1 gap-6 lg:grid-cols-2">
        <section className="rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="breakdown-title">
          <h2 id="breakdown-title" className="mb-2 font-semibold">
            Breakdown by category
          </h2>
          <div className="h-56" role="img" aria-label="Bytes by category (the table below lists the same figures)">
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={categories} layout="vertical" margin={{ left: 24, right: 16 }}>
                <XAxis type="number" tickFormatter={(v: number) => formatBytes(v)} fontSize={12} />
                <YAxis type="category" dataKey="name" width={110} fontSize={12} />
                <Tooltip formatter={(v) => formatBytes(Number(v))} />
                <Bar dataKey="bytes" name="Bytes" isAnimationActive={false}>
                  {categories.map((c) => (
                    <Cell key={c.key} fill={CATEGORY_COLORS[c.key]} />
                  ))}
                </Bar>
              </BarChart>
            </ResponsiveContainer>
          </div>
          <dl className="mt-2 grid grid-cols-2 gap-x-4 text-sm">
            {categories.map((c) => (
              <div key={c.key} className="flex justify-between" data-testid={`category-${c.key}`}>
                <dt>{c.name}</dt>
                <dd className="tabular-nums">
                  <Bytes value={c.bytes} />
                </dd>
              </div>
            ))}
            <div className="flex justify-between" data-testid="category-unattributed">
              <dt>Unattributed</dt>
              <dd className="tabular-nums">
                <Bytes value={inventory.totals.unattributedBytes} />
              </dd>
            </div>
          </dl>
        </section>

        <section className="rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="history-title">
          <h2 id="history-title" className="mb-2 font-semibold">
            Disk used, hourly, with forecast
          </h2>
          {historyData.length === 0 ? (
            <p className="text-sm text-slate-500">No history yet.</p>
          ) : (
            <div
              className="h-56"
              role="img"
              aria-label={`Disk used over ${history.length} hours; growth ${formatBytes(Math.round(forecast.growthBytesPerDay))} per day`}
            >
              <ResponsiveContainer width="100%" height="100%">
                <LineChart data={historyData} margin={{ left: 16, right: 16 }}>
                  <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
                  <XAxis
                    dataKey="at"
                    type="number"
                    scale="time"
                    domain={['dataMin', 'dataMax']}
                    tickFormatter={(v: number) => new Date(v).toISOString().slice(5, 13).replace('T', ' ')}
                    fontSize={12}
                  />
                  <YAxis tickFormatter={(v: number) => formatBytes(v)} fontSize={12} width={80} />
                  <Tooltip
                    labelFormatter={(v) => new Date(Number(v)).toISOString()}
                    formatter={(v) => formatBytes(Number(v))}
                  />
                  {fs && <ReferenceLine y={fs.sizeBytes} stroke="#dc2626" strokeDasharray="4 4" label="size" />}
                  <Line
                    dataKey="used"
                    name="Used"
                    stroke="#0369a1"
                    dot={false}
                    isAnimationActive={false}
                    connectNulls
                  />
                  <Line
                    dataKey="forecast"
                    name="Forecast"
                    stroke="#dc2626"
                    strokeDasharray="6 3"
                    dot={false}
                    isAnimationActive={false}
                    connectNulls
                  />
                </LineChart>
              </ResponsiveContainer>
            </div>
          )}
          <dl className="mt-3 grid grid-cols-2 gap-x-4 gap-y-1 text-sm sm:grid-cols-3" data-testid="host-growth">
            {[...(Object.keys(CATEGORY_LABELS) as (keyof typeof CATEGORY_LABELS)[]), 'otherBytes' as const].map(
              (key) => {
                const perDay = forecast.growthByCategory[key];
                return (
                  <div key={key} className="flex justify-between gap-2">
                    <dt className="text-slate-500">{key === 'otherBytes' ? 'Outside Docker' : CATEGORY_LABELS[key]}</dt>
                    <dd className="tabular-nums">
                      {perDay === null
                        ? '–'
                        : `${perDay < 0 ? '−' : '+'}${formatBytes(Math.abs(Math.round(perDay)))}/day`}
                    </dd>
                  </div>
                );
              },
            )}
          </dl>
        </section>
      </div>

      <Table
        label="Opportunities"
        headers={[
          ['Opportunity', false],
          ['Risk', false],
          ['Reclaimable', true],
          ['Cost', true],
          ['Action', false],
        ]}
      >
        {opportunities.length === 0 ? (
          <tr>
            <td colSpan={5} className={`${cell} text-slate-500`}>
              Nothing to reclaim under the current policy.
            </td>
          </tr>
        ) : (
          opportunities.map((o) => (
            <tr key={o.kind} data-testid="host-opportunity" data-kind={o.kind}>
              <td className={cell}>
                <div className="font-medium">{o.title}</div>
                <div className="text-xs text-slate-500">{o.explanation}</div>
                {o.logGrowthBytesPerDay != null && (
                  <div className="text-xs text-slate-700" data-testid="log-growth">
                    Logs on this host grow {o.logGrowthBytesPerDay < 0 ? '−' : '+'}
                    {formatBytes(Math.abs(Math.round(o.logGrowthBytesPerDay)))} per day (14-day fit of hourly log bytes)
                  </div>
                )}
              </td>
              <td className={cell}>
                <RiskBadge risk={o.risk} />
              </td>
              <td className={num}>
                <Bytes value={o.reclaimableBytes} />
              </td>
              <td className={num}>
                <Money value={o.monthlyCost} />
              </td>
              <td className={cell}>
                <PlanAction opportunity={{ ...o, hostname: host.hostname }} />
              </td>
            </tr>
          ))
        )}
      </Table>

      <HostJobs hostId={hostId} />

      <Table
        label="Images"
        headers={[
          ['Image', false],
          ['Size', true],
          ['Exclusive', true],
          ['Shared', true],
          ['Containers', true],
          ['Last used', false],
        ]}
      >
        {inventory.images.map((image) => (
          <tr key={image.id} data-testid="image-row" data-image-id={image.id}>
            <td className={cell}>
              <div className="font-medium">{image.repoTags.join(', ') || '(untagged)'}</div>
              <div className="font-mono text-xs text-slate-500">{short(image.id)}</div>
            </td>
            <td className={num}>
              <Bytes value={image.sizeBytes} testId="image-size" />
            </td>
            <td className={num}>
              <Bytes value={image.exclusiveBytes} testId="image-exclusive" />
            </td>
            <td className={num}>
              <Bytes value={image.sharedBytes} testId="image-shared" />
            </td>
            <td className={num}>{image.containerCount}</td>
            <td className={cell}>{image.lastUsedAt?.slice(0, 10) ?? 'never seen'}</td>
          </tr>
        ))}
      </Table>

      <Table
        label="Containers"
        headers={[
          ['Container', false],
          ['State', false],
          ['Writable layer', true],
          ['Logs', true],
          ['Log rotation', false],
        ]}
      >
        {inventory.containers.map((c) => (
          <tr key={c.id} data-testid="container-row" data-container-id={c.id}>
            <td className={cell}>
              <div className="font-medium">{c.name}</div>
              <div className="text-xs text-slate-500">{c.image}</div>
            </td>
            <td className={cell}>{c.state}</td>
            <td className={num}>
              <Bytes value={c.writableBytes} testId="container-writable" />
            </td>
            <td className={num}>
              <Bytes value={c.logBytes} testId="container-logs" />
            </td>
            <td className={cell}>{c.logRotation ? 'bounded' : `unbounded (${c.logDriver})`}</td>
          </tr>
        ))}
      </Table>

      <Table
        label="Volumes"
        headers={[
          ['Volume', false],
          ['Driver', false],
          ['Size', true],
          ['Containers', true],
        ]}
      >
        {inventory.volumes.map((v) => (
          <tr key={v.name} data-testid="volume-row" data-volume-name={v.name}>
            <td className={cell}>
              <span className="font-mono text-xs">{v.name}</span>
              {v.anonymous && <span className="ml-1 text-xs text-slate-500">(anonymous)</span>}
            </td>
            <td className={cell}>{v.driver}</td>
            <td className={num}>
              <Bytes value={v.sizeBytes} testId="volume-size" />
            </td>
            <td className={num}>{v.containerCount}</td>
          </tr>
        ))}
      </Table>

      <Table
        label="Build cache"
        headers={[
          ['Record type', false],
          ['Records', true],
          ['Bytes', true],
        ]}
      >
        {!inventory.buildCache.measured ? (
          <tr>
            <td colSpan={3} className={`${cell} text-slate-500`}>
              The build cache could not be read this time.
            </td>
          </tr>
        ) : (
          <>
            {Object.entries(inventory.buildCache.byType).map(([type, entry]) => (
              <tr key={type}>
                <td className={cell}>{type}</td>
                <td className={num}>{entry.records}</td>
                <td className={num}>
                  <Bytes value={entry.bytes} />
                </td>
              </tr>
            ))}
            <tr className="font-medium" data-testid="build-cache-total">
              <td className={cell}>Total (reclaimable)</td>
              <td className={num}>{inventory.buildCache.records}</td>
              <td className={num}>
                <Bytes value={inventory.buildCache.totalBytes} testId="build-cache-bytes" /> (
                <Bytes value={inventory.buildCache.reclaimableBytes} testId="build-cache-reclaimable" />)
              </td>
            </tr>
          </>
        )}
      </Table>

      <HostContent content={detail.data.content} />

      <MeasurementNote>
        <p>
          Image <strong>size</strong> is the sum of the image's layers (Docker's <code>Size</code>);{' '}
          <strong>exclusive</strong> is the layers no other image uses, what deleting this image alone frees (equals
          <code> docker system df -v</code> UNIQUE SIZE); <strong>shared</strong> is the rest.
        </p>
        <p>
          Writable layer is the container's upper directory (same rule as <code>SizeRw</code>); logs are the{' '}
          <code>stat</code> size of its log files. Volume size is a walk of the volume, apparent bytes (equals{' '}
          <code>UsageData.Size</code> of <code>/system/df</code>). Build cache is BuildKit records not shared with
          images.
        </p>
        <p>
          Disk figures are <code>statfs</code> of the data root. The forecast is a least-squares fit of hourly disk used
          over the last 14 days ({forecast.points} points); it says nothing when usage is flat or shrinking. Growth per
          category is the same fit of each category's bytes; &quot;outside Docker&quot; is disk used minus the
          categories. &quot;First&quot; is the lowest-risk action that frees the most, in days of growth at the current
          rate.
        </p>
        <p>
          Snapshot collected {inventory.collectedAt}; reclaimable total at{' '}
          <Money value={opportunities.reduce((s, o) => s + o.monthlyCost, 0)} />.
        </p>
      </MeasurementNote>
    </div>
  );
}
