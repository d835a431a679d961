'use client';

import { JOB_KINDS, type JobKind } from '@ballast/shared/jobs';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ErrorMessage, errorText, Notice, SubmitButton } from '~/components/form';
import { useTRPC } from '~/trpc/react';
import { LoadError, Loading } from '../dashboard/figures';
import { kindLabel } from './common';

/** Kinds that may be approved by policy: never volume removal. */
const AUTO_APPROVABLE = JOB_KINDS.filter((k) => k !== 'volumes.remove');

/** Settings: which job kinds are approved as soon as their plan arrives (none by default). */
export function AutoApprovePanel() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const policy = useQuery(trpc.job.policy.get.queryOptions());
  const update = useMutation(
    trpc.job.policy.update.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries() }),
  );
  if (policy.isPending) return <Loading what="the approval policy" />;
  if (policy.isError) return <LoadError what="the approval policy" message={policy.error.message} />;
  return (
    <form
      aria-label="Automatic approval"
      className="max-w-xl space-y-3 rounded-lg border border-slate-200 bg-white p-4"
      onSubmit={(event) => {
        event.preventDefault();
        const data = new FormData(event.currentTarget);
        const kinds: JobKind[] = AUTO_APPROVABLE.filter((k) => data.has(k));
        update.mutate({ autoApproveKinds: kinds });
      }}
    >
      <h2 className="font-semibold">Automatic approval</h2>
      <p className="text-sm text-slate-600">
        Plans of the kinds ticked here are approved as soon as the agent sends them, recorded in the audit log as
        approved by policy. Volume removal always waits for an operator.
      </p>
      <fieldset className="space-y-1 text-sm">
        <legend className="sr-only">Kinds approved automatically</legend>
        {AUTO_APPROVABLE.map((k) => (
          <label key={k} className="flex items-center gap-2">
            <input type="checkbox" name={k} defaultChecked={policy.data.autoApproveKinds.includes(k)} />
            {kindLabel(k)} <span className="font-mono text-xs text-slate-500">{k}</span>
          </label>
        ))}
      </fieldset>
      <ErrorMessage message={update.isError ? errorText(update.error) : null} />
      {update.isSuccess ? <Notice>Saved.</Notice> : null}
      <SubmitButton busy={update.isPending}>Save</SubmitButton>
    </form>
  );
}
