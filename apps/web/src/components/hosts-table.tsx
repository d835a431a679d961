'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import Link from 'next/link';
import { useEffect, useState } from 'react';
import { useTRPC } from '~/trpc/react';
import { Bytes, Empty, LoadError, Loading } from './dashboard/figures';

function useNow(intervalMs: number) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function relativeTime(date: Date, now: number) {
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export function HostsTable() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const hosts = useQuery({ ...trpc.host.list.queryOptions(), refetchInterval: 60_000 });
  const now = useNow(5_000);

  useSubscription(
    trpc.host.changes.subscriptionOptions(undefined, {
      onData: () => void queryClient.invalidateQueries({ queryKey: trpc.host.list.queryKey() }),
    }),
  );

  if (hosts.isPending) return <Loading what="hosts" />;
  if (hosts.isError) return <LoadError what="hosts" message={hosts.error.message} />;
  if (hosts.data.length === 0) {
    return (
      <Empty>
        <p className="font-medium">No hosts yet.</p>
        <p>
          Start an agent with <code>ballast-agent run --server URL --token TOKEN</code>; it appears here within seconds.
        </p>
      </Empty>
    );
  }

  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
      <table className="min-w-full text-sm" aria-label="Hosts">
        <thead className="bg-slate-100 text-left text-xs uppercase tracking-wide text-slate-600">
          <tr>
            <th scope="col" className="px-3 py-2">
              Host
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Images
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Containers
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Container logs
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Volumes
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Build cache
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Disk used
            </th>
            <th scope="col" className="px-3 py-2 text-right">
              Disk free
            </th>
            <th scope="col" className="px-3 py-2">
              Last seen
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {hosts.data.map((host) => {
            const latest = host.latest;
            const usedPct =
              latest?.fsSizeBytes && latest.fsUsedBytes !== null
                ? Math.round((latest.fsUsedBytes / latest.fsSizeBytes) * 100)
                : null;
            return (
              <tr key={host.id} data-testid={`host-row-${host.hostname}`} data-host-id={host.id}>
                <td className="px-3 py-2">
                  <Link className="font-medium text-sky-700 underline" href={`/hosts/${host.id}`}>
                    {host.hostname}
                  </Link>
                  <div className="text-xs text-slate-500">
                    Docker {host.engineVersion ?? '?'} · {host.storageDriver ?? '?'} · {host.dataRoot ?? '?'}
                  </div>
                  {latest && (
                    <div className="text-xs text-slate-500">
                      {latest.imageCount} images · {latest.containerCount} containers · {latest.volumeCount} volumes
                    </div>
                  )}
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={latest?.imagesBytes} testId="images-bytes" />
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={latest?.containersBytes} testId="containers-bytes" />
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={latest?.containerLogsBytes} testId="logs-bytes" />
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={latest?.volumesBytes} testId="volumes-bytes" />
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={latest?.buildCacheBytes} testId="build-cache-bytes" />
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={latest?.fsUsedBytes} testId="fs-used-bytes" />
                  {usedPct !== null && <span className="ml-1 text-xs text-slate-500">({usedPct}%)</span>}
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                  <Bytes value={latest?.fsFreeBytes} testId="fs-free-bytes" />
                </td>
                <td className="px-3 py-2">
                  <span
                    className={`mr-2 inline-block h-2 w-2 rounded-full ${host.connected ? 'bg-emerald-500' : 'bg-slate-400'}`}
                    aria-hidden
                  />
                  <span data-testid="status">{host.connected ? 'connected' : 'offline'}</span>
                  <div className="text-xs text-slate-500" title={host.lastSeenAt.toISOString()}>
                    {relativeTime(host.lastSeenAt, now)}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
