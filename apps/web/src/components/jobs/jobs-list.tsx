'use client';

import { JOB_KINDS, JOB_STATES, type JobKind, type JobState } from '@ballast/shared/jobs';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { errorText } from '~/components/form';
import { useTRPC } from '~/trpc/react';
import { Bytes, Empty, LoadError, Loading, tableClass, theadClass, useLiveUpdates } from '../dashboard/figures';
import { buttonClass, canOperate, inputClass, kindLabel, StateBadge, useRole } from './common';

const cell = 'px-3 py-2 align-top';
const num = 'whitespace-nowrap px-3 py-2 text-right align-top tabular-nums';

/** The Jobs page: filters in the URL (shareable), campaigns with per-host status, then every job. */
export function JobsList() {
  const trpc = useTRPC();
  const router = useRouter();
  const search = useSearchParams();
  const state = JOB_STATES.find((s) => s === search.get('state'));
  const kind = JOB_KINDS.find((k) => k === search.get('kind'));
  const hostId = search.get('host') || undefined;
  const campaignId = search.get('campaign') || undefined;
  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(search.toString());
    if (value) next.set(name, value);
    else next.delete(name);
    router.replace(`/jobs${next.size ? `?${next}` : ''}`);
  };
  const hosts = useQuery(trpc.host.list.queryOptions());
  const jobs = useQuery({
    ...trpc.job.list.queryOptions({
      limit: 200,
      ...(state && { state }),
      ...(kind && { kind }),
      ...(hostId && { hostId }),
      ...(campaignId && { campaignId }),
    }),
    placeholderData: keepPreviousData,
    refetchInterval: 10_000,
  });
  const campaigns = useQuery({ ...trpc.job.campaigns.queryOptions(), refetchInterval: 10_000 });
  useLiveUpdates();
  const shownCampaigns = (campaigns.data ?? []).filter((c) => !campaignId || c.id === campaignId);

  return (
    <div className="space-y-6">
      <form className="flex flex-wrap items-end gap-3" aria-label="Job filters" onSubmit={(e) => e.preventDefault()}>
        <label className="text-sm">
          <span className="block font-medium">State</span>
          <select className={inputClass} value={state ?? ''} onChange={(e) => setFilter('state', e.target.value)}>
            <option value="">Any state</option>
            {JOB_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="block font-medium">Kind</span>
          <select className={inputClass} value={kind ?? ''} onChange={(e) => setFilter('kind', e.target.value)}>
            <option value="">All kinds</option>
            {JOB_KINDS.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="block font-medium">Host</span>
          <select className={inputClass} value={hostId ?? ''} onChange={(e) => setFilter('host', e.target.value)}>
            <option value="">All hosts</option>
            {(hosts.data ?? []).map((h) => (
              <option key={h.id} value={h.id}>
                {h.hostname}
              </option>
            ))}
          </select>
        </label>
        {campaignId ? (
          <button type="button" className="text-sm text-sky-700 underline" onClick={() => setFilter('campaign', '')}>
            Show all campaigns
          </button>
        ) : null}
        <a
          className="text-sm text-sky-700 underline"
          href={`/api/export/jobs.csv?${new URLSearchParams({
            ...(state && { state }),
            ...(kind && { kind }),
            ...(hostId && { hostId }),
            ...(campaignId && { campaignId }),
          })}`}
        >
          Export CSV
        </a>
      </form>

      {shownCampaigns.length > 0 ? (
        <section aria-label="Campaigns" className="space-y-3">
          <h2 className="font-semibold">Campaigns</h2>
          {shownCampaigns.map((c) => (
            <CampaignCard key={c.id} campaign={c} />
          ))}
        </section>
      ) : null}

      <section aria-label="Jobs" className="space-y-2">
        <h2 className="font-semibold">Jobs</h2>
        {jobs.isPending ? (
          <Loading what="jobs" />
        ) : jobs.isError ? (
          <LoadError what="jobs" message={jobs.error.message} />
        ) : jobs.data.length === 0 ? (
          <Empty>
            <p className="font-medium">No jobs match.</p>
            <p>
              Plan one from the{' '}
              <Link className="text-sky-700 underline" href="/opportunities">
                opportunities
              </Link>
              .
            </p>
          </Empty>
        ) : (
          <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
            <table className={tableClass} aria-label="Jobs">
              <thead className={theadClass}>
                <tr>
                  <th scope="col" className="px-3 py-2">
                    Job
                  </th>
                  <th scope="col" className="px-3 py-2">
                    Host
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
                  <tr key={j.id} data-testid="job-row" data-job-id={j.id}>
                    <td className={cell}>
                      <Link className="font-medium text-sky-700 underline" href={`/jobs/${j.id}`}>
                        {j.kindLabel}
                      </Link>
                      <div className="font-mono text-xs text-slate-500">{j.id}</div>
                      {j.campaignId ? (
                        <Link className="text-xs text-slate-500 underline" href={`/jobs?campaign=${j.campaignId}`}>
                          campaign
                        </Link>
                      ) : null}
                    </td>
                    <td className={cell}>
                      <Link className="text-sky-700 underline" href={`/hosts/${j.hostId}`}>
                        {j.hostname}
                      </Link>
                    </td>
                    <td className={cell}>
                      <StateBadge state={j.state} />
                      {j.state === 'running' && j.progressTotal ? (
                        <div className="text-xs text-slate-500">
                          {j.progressDone} of {j.progressTotal}
                        </div>
                      ) : null}
                    </td>
                    <td className={num}>
                      <Bytes value={j.plannedBytes} />
                    </td>
                    <td className={num}>
                      <Bytes value={j.bytesFreed} />
                    </td>
                    <td className={`${cell} whitespace-nowrap text-slate-600`}>{j.createdAt.toLocaleString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

interface CampaignView {
  id: string;
  kind: JobKind;
  kindLabel: string;
  createdAt: Date;
  plannedBytes: number;
  bytesFreed: number;
  byState: Partial<Record<JobState, number>>;
  jobs: {
    id: string;
    hostId: string;
    hostname: string;
    state: JobState;
    plannedBytes: number | null;
    bytesFreed: number | null;
    error: string | null;
  }[];
}

function CampaignCard({ campaign }: { campaign: CampaignView }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const role = useRole();
  const planned = campaign.jobs.filter((j) => j.state === 'planned').length;
  const approve = useMutation(
    trpc.job.approveCampaign.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries() }),
  );
  return (
    <article
      className="rounded-lg border border-slate-200 bg-white p-3 text-sm"
      data-testid="campaign"
      data-campaign-id={campaign.id}
    >
      <div className="flex flex-wrap items-center gap-3">
        <h3 className="font-medium">{campaign.kindLabel}</h3>
        <span className="text-slate-500">
          {campaign.jobs.length} hosts · planned <Bytes value={campaign.plannedBytes} /> · freed{' '}
          <Bytes value={campaign.bytesFreed} />
        </span>
        <span className="text-slate-500">
          {Object.entries(campaign.byState)
            .map(([s, n]) => `${n} ${s}`)
            .join(', ')}
        </span>
        {canOperate(role) && campaign.kind !== 'volumes.remove' ? (
          <button
            type="button"
            className={buttonClass}
            disabled={planned === 0 || approve.isPending}
            onClick={() => approve.mutate({ id: campaign.id })}
          >
            Approve {planned} planned
          </button>
        ) : null}
        {approve.isError ? (
          <span role="alert" className="text-red-700">
            {errorText(approve.error)}
          </span>
        ) : null}
        {approve.data ? (
          <span role="status" className="text-emerald-800">
            Approved {approve.data.approved}; {approve.data.waiting} still planning.
          </span>
        ) : null}
      </div>
      <ul className="mt-2 grid gap-1 sm:grid-cols-2 lg:grid-cols-3">
        {campaign.jobs.map((j) => (
          <li key={j.id} className="flex items-center gap-2" data-testid="campaign-host">
            <StateBadge state={j.state} />
            <Link className="text-sky-700 underline" href={`/jobs/${j.id}`}>
              {j.hostname}
            </Link>
            <Bytes value={j.bytesFreed ?? j.plannedBytes} />
          </li>
        ))}
      </ul>
    </article>
  );
}
