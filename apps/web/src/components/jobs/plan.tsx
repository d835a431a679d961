'use client';

import { JOB_KINDS } from '@ballast/shared/jobs';
import { OPPORTUNITY_KINDS } from '@ballast/shared/savings/kinds';
import { useMutation } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useId, useState } from 'react';
import { errorText } from '~/components/form';
import { useTRPC } from '~/trpc/react';
import { Bytes } from '../dashboard/figures';
import { buttonClass, canOperate, dangerButtonClass, secondaryButtonClass, useRole } from './common';

export interface PlannableOpportunity {
  hostId: string;
  hostname: string;
  kind: string;
  title: string;
  action: unknown;
  objects: { id: string; name: string; bytes: number; note?: string | undefined }[];
}

/** The job an opportunity proposes, if any (stored as JSON). */
export function actionOf(o: { action: unknown }): { kind: string; params: Record<string, unknown> } | null {
  const action = o.action as { kind?: unknown; params?: unknown } | null;
  if (!action || typeof action.kind !== 'string' || typeof action.params !== 'object' || action.params === null) {
    return null;
  }
  return { kind: action.kind, params: action.params as Record<string, unknown> };
}

/**
 * "Plan" for one opportunity: creates the job and opens its page, where the plan appears
 * when the agent answers. Unused volumes instead list each volume, none selected.
 */
export function PlanAction({ opportunity }: { opportunity: PlannableOpportunity }) {
  const trpc = useTRPC();
  const router = useRouter();
  const role = useRole();
  const [choosing, setChoosing] = useState(false);
  const [volumes, setVolumes] = useState<Set<string>>(new Set());
  const fieldsetId = useId();
  const create = useMutation(
    trpc.job.createFromOpportunity.mutationOptions({ onSuccess: ({ id }) => router.push(`/jobs/${id}`) }),
  );
  if (!canOperate(role)) return null;
  const opportunityKind = OPPORTUNITY_KINDS.find((k) => k === opportunity.kind);
  const isVolumes = opportunityKind === 'volumes.unused';
  if (!opportunityKind || (!isVolumes && !actionOf(opportunity))) {
    return <span className="text-xs text-slate-400">no action</span>;
  }

  const error = create.isError ? (
    <p role="alert" className="mt-1 text-xs text-red-700">
      {errorText(create.error)}
    </p>
  ) : null;

  if (!isVolumes) {
    return (
      <div>
        <button
          type="button"
          className={buttonClass}
          disabled={create.isPending}
          aria-label={`Plan ${opportunity.title} on ${opportunity.hostname}`}
          onClick={() => create.mutate({ hostId: opportunity.hostId, opportunityKind })}
        >
          {create.isPending ? 'Planning…' : 'Plan'}
        </button>
        {error}
      </div>
    );
  }

  return (
    <div>
      <button
        type="button"
        className={secondaryButtonClass}
        aria-expanded={choosing}
        aria-controls={fieldsetId}
        onClick={() => setChoosing(!choosing)}
      >
        Choose volumes…
      </button>
      {choosing ? (
        <fieldset id={fieldsetId} className="mt-2 space-y-1 rounded-md border border-red-200 bg-red-50 p-2 text-xs">
          <legend className="px-1 font-medium text-red-900">Volumes to remove (their data is lost)</legend>
          {opportunity.objects.map((v) => (
            <label key={v.id} className="flex items-center gap-2">
              <input
                type="checkbox"
                checked={volumes.has(v.id)}
                onChange={() => {
                  const next = new Set(volumes);
                  if (next.has(v.id)) next.delete(v.id);
                  else next.add(v.id);
                  setVolumes(next);
                }}
              />
              <span className="font-mono">{v.name}</span>
              <Bytes value={v.bytes} />
            </label>
          ))}
          <button
            type="button"
            className={dangerButtonClass}
            disabled={volumes.size === 0 || create.isPending}
            onClick={() => create.mutate({ hostId: opportunity.hostId, opportunityKind, volumes: [...volumes] })}
          >
            Plan removal of {volumes.size} volume{volumes.size === 1 ? '' : 's'}
          </button>
          {error}
        </fieldset>
      ) : null}
    </div>
  );
}

/**
 * One campaign for several selected opportunities of the same action across hosts: one job
 * per host, approved together. Volumes never go into campaigns (they are named per host).
 */
export function CampaignAction({ selected }: { selected: PlannableOpportunity[] }) {
  const trpc = useTRPC();
  const router = useRouter();
  const role = useRole();
  const create = useMutation(
    trpc.job.createCampaign.mutationOptions({ onSuccess: ({ id }) => router.push(`/jobs?campaign=${id}`) }),
  );
  if (!canOperate(role)) return null;
  const actions = selected.map(actionOf);
  const first = actions[0];
  const sameAction =
    first !== null &&
    first !== undefined &&
    actions.every(
      (a) => a !== null && a.kind === first.kind && JSON.stringify(a.params) === JSON.stringify(first.params),
    );
  const hosts = [...new Set(selected.map((o) => o.hostId))];
  const usable = sameAction && hosts.length === selected.length && selected.length > 1;
  const reason =
    selected.length < 2
      ? 'Select opportunities of one kind on two or more hosts for a campaign, or use Plan on a row.'
      : !sameAction
        ? 'A campaign runs one kind of job: select opportunities with the same action.'
        : hosts.length !== selected.length
          ? 'A campaign has one job per host.'
          : `One ${first?.kind} job on each of ${hosts.length} hosts, approved together.`;
  return (
    <div className="flex flex-wrap items-center gap-3">
      <button
        type="button"
        className={buttonClass}
        disabled={!usable || create.isPending}
        aria-describedby="campaign-note"
        onClick={() => {
          const kind = JOB_KINDS.find((k) => k === first?.kind);
          if (first && kind) create.mutate({ hostIds: hosts, kind, params: first.params });
        }}
      >
        {create.isPending ? 'Planning…' : 'Plan campaign'}
      </button>
      <span id="campaign-note" className="text-slate-500">
        {reason}
      </span>
      {create.isError ? (
        <span role="alert" className="text-red-700">
          {errorText(create.error)}
        </span>
      ) : null}
    </div>
  );
}
