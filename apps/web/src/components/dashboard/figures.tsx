'use client';

import { formatBytes } from '@ballast/shared/format';
import { useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { type ReactNode, useEffect, useRef } from 'react';
import { useTRPC } from '~/trpc/react';

/** A byte figure: rounded for reading, exact in `data-bytes` and the tooltip. */
export function Bytes({ value, testId }: { value: number | null | undefined; testId?: string }) {
  if (value === null || value === undefined) {
    return (
      <span data-testid={testId} className="text-slate-400" title="not measured yet">
        —
      </span>
    );
  }
  return (
    <span data-testid={testId} data-bytes={value} title={`${value.toLocaleString('en-US')} bytes`}>
      {formatBytes(value)}
    </span>
  );
}

/** Cents for usual amounts; small ones keep two significant digits instead of showing 0.00. */
export function formatMoney(value: number): string {
  if (value === 0 || Math.abs(value) >= 0.01) {
    return value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  return value.toLocaleString('en-US', { maximumSignificantDigits: 2 });
}

export function Money({ value, testId }: { value: number; testId?: string }) {
  return (
    <span data-testid={testId} data-amount={value} title={`${value} per month`}>
      {formatMoney(value)}/mo
    </span>
  );
}

/**
 * Refetches every query of the page when any host of the organization reports. A running job
 * streams a progress event per object, so refetches are batched to at most one per 500 ms.
 */
export function useLiveUpdates() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
    },
    [],
  );
  useSubscription(
    trpc.host.changes.subscriptionOptions(undefined, {
      onData: () => {
        if (pending.current) return;
        pending.current = setTimeout(() => {
          pending.current = null;
          void queryClient.invalidateQueries();
        }, 500);
      },
    }),
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p role="status" className="text-sm text-slate-500">
      Loading {what}…
    </p>
  );
}

export function LoadError({ what, message }: { what: string; message: string }) {
  return (
    <p role="alert" className="rounded border border-red-200 bg-red-50 p-3 text-sm text-red-800">
      Could not load {what}: {message}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <div className="rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center text-sm text-slate-600">
      {children}
    </div>
  );
}

export function Card({ title, children, testId }: { title: string; children: ReactNode; testId?: string }) {
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4" data-testid={testId}>
      <h2 className="mb-1 text-xs font-medium uppercase tracking-wide text-slate-500">{title}</h2>
      <div className="text-2xl font-semibold tabular-nums">{children}</div>
    </section>
  );
}

export function MeasurementNote({ children }: { children: ReactNode }) {
  return (
    <section
      aria-label="How these numbers are measured"
      className="rounded-lg border border-slate-200 bg-white p-4 text-sm"
    >
      <h2 className="mb-2 font-semibold">How these numbers are measured</h2>
      <div className="space-y-2 text-slate-600">{children}</div>
    </section>
  );
}

export const CATEGORY_LABELS = {
  imagesBytes: 'Images',
  containersBytes: 'Containers',
  containerLogsBytes: 'Container logs',
  volumesBytes: 'Volumes',
  buildCacheBytes: 'Build cache',
} as const;

export const CATEGORY_COLORS: Record<keyof typeof CATEGORY_LABELS, string> = {
  imagesBytes: '#0369a1',
  containersBytes: '#7c3aed',
  containerLogsBytes: '#d97706',
  volumesBytes: '#059669',
  buildCacheBytes: '#64748b',
};

export const RISK_CLASSES = {
  low: 'bg-emerald-50 text-emerald-800',
  medium: 'bg-amber-50 text-amber-800',
  high: 'bg-red-50 text-red-800',
} as const;

export function RiskBadge({ risk }: { risk: string }) {
  const cls = RISK_CLASSES[risk as keyof typeof RISK_CLASSES] ?? 'bg-slate-100 text-slate-700';
  return <span className={`rounded px-1.5 py-0.5 text-xs font-medium ${cls}`}>{risk}</span>;
}

export const thClass = 'px-3 py-2';
export const tableClass = 'min-w-full text-sm';
export const theadClass = 'bg-slate-100 text-left text-xs uppercase tracking-wide text-slate-600';
