'use client';

import { JOB_KIND_LABELS, type JobKind, type JobState, TERMINAL_JOB_STATES } from '@ballast/shared/jobs';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '~/trpc/react';

const STATE_CLASSES: Record<JobState, string> = {
  requested: 'bg-slate-100 text-slate-700',
  planning: 'bg-sky-50 text-sky-800',
  planned: 'bg-indigo-50 text-indigo-800',
  approved: 'bg-violet-50 text-violet-800',
  running: 'bg-sky-100 text-sky-900',
  succeeded: 'bg-emerald-50 text-emerald-800',
  partial: 'bg-amber-50 text-amber-800',
  failed: 'bg-red-50 text-red-800',
  cancelled: 'bg-slate-100 text-slate-600',
  expired: 'bg-slate-100 text-slate-600',
  unknown: 'bg-orange-50 text-orange-800',
};

/** What each state means to someone watching a job. */
export const STATE_HINTS: Record<JobState, string> = {
  requested: 'waiting for the agent to connect',
  planning: 'the agent is computing the dry run',
  planned: 'the plan is ready for approval',
  approved: 'waiting for the agent to start',
  running: 'the agent is acting on the planned objects',
  succeeded: 'every planned object was handled',
  partial: 'some objects were skipped or failed',
  failed: 'nothing more will happen',
  cancelled: 'cancelled before it ran',
  expired: 'the deadline passed before it ran',
  unknown: 'the agent went silent while running; its result will be taken when it reports',
};

export function StateBadge({ state }: { state: JobState }) {
  return (
    <span
      data-testid="job-state"
      data-state={state}
      title={STATE_HINTS[state]}
      className={`rounded px-1.5 py-0.5 text-xs font-medium ${STATE_CLASSES[state]}`}
    >
      {state}
    </span>
  );
}

export const isTerminal = (state: JobState) => TERMINAL_JOB_STATES.includes(state);
export const kindLabel = (kind: string) => JOB_KIND_LABELS[kind as JobKind] ?? kind;

/** The caller's role in the active organization (null while loading). */
export function useRole(): 'viewer' | 'operator' | 'admin' | null {
  const trpc = useTRPC();
  const current = useQuery(trpc.organization.current.queryOptions());
  return current.data?.role ?? null;
}

export const canOperate = (role: ReturnType<typeof useRole>) => role === 'operator' || role === 'admin';

export const buttonClass =
  'inline-flex items-center justify-center rounded-md bg-sky-700 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-sky-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-sky-600 focus-visible:ring-offset-2 disabled:opacity-50';
export const secondaryButtonClass =
  'inline-flex items-center justify-center rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium text-slate-800 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-sky-600 disabled:opacity-50';
export const dangerButtonClass =
  'inline-flex items-center justify-center rounded-md bg-red-700 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-red-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-red-600 focus-visible:ring-offset-2 disabled:opacity-50';
export const inputClass =
  'rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm focus:border-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-600/30';
