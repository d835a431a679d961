'use client';

import type { SavingsPolicy } from '@ballast/shared/savings/policy';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { ErrorMessage, errorText, Field, Notice, SubmitButton } from '~/components/form';
import { useTRPC } from '~/trpc/react';
import { LoadError, Loading } from './figures';

const lines = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);

export function SavingsPolicyForm() {
  const trpc = useTRPC();
  const policy = useQuery(trpc.settings.policy.get.queryOptions());
  if (policy.isPending) return <Loading what="the savings policy" />;
  if (policy.isError) return <LoadError what="the savings policy" message={policy.error.message} />;
  return <PolicyEditor initial={policy.data} />;
}

function PolicyEditor({ initial }: { initial: SavingsPolicy }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [saved, setSaved] = useState(false);
  const update = useMutation(
    trpc.settings.policy.update.mutationOptions({
      onSuccess: () => {
        setSaved(true);
        void queryClient.invalidateQueries({ queryKey: trpc.settings.policy.get.queryKey() });
      },
    }),
  );
  const [patterns, setPatterns] = useState(initial.protectedImagePatterns.join('\n'));
  const [labels, setLabels] = useState(initial.protectedLabels.join('\n'));
  const [groupPrices, setGroupPrices] = useState(
    Object.entries(initial.groupPrices)
      .map(([group, price]) => `${group}=${price}`)
      .join('\n'),
  );
  const [groupError, setGroupError] = useState<string | null>(null);

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setSaved(false);
    const form = new FormData(event.currentTarget);
    const number = (name: string) => Number(form.get(name));
    const prices: Record<string, number> = {};
    for (const line of lines(groupPrices)) {
      const eq = line.lastIndexOf('=');
      const price = Number(line.slice(eq + 1));
      if (eq <= 0 || line.slice(eq + 1).trim() === '' || !Number.isFinite(price) || price < 0) {
        setGroupError(`"${line}": write one group per line as group=price, e.g. gpu=0.35`);
        return;
      }
      prices[line.slice(0, eq).trim()] = price;
    }
    setGroupError(null);
    update.mutate({
      ...initial,
      pricePerGbMonth: number('pricePerGbMonth'),
      unusedImageMinAgeDays: number('unusedImageMinAgeDays'),
      stoppedContainerMinAgeDays: number('stoppedContainerMinAgeDays'),
      keepNewestTagsPerRepository: number('keepNewestTagsPerRepository'),
      protectedImagePatterns: lines(patterns),
      protectedLabels: lines(labels),
      groupLabel: String(form.get('groupLabel') ?? '').trim(),
      groupPrices: prices,
    });
  };
  const textareaClass =
    'block w-full rounded-md border border-slate-300 bg-white px-3 py-2 font-mono text-sm shadow-sm focus:border-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-600/30';

  return (
    <form
      onSubmit={submit}
      className="max-w-xl space-y-4 rounded-lg border border-slate-200 bg-white p-4"
      aria-label="Savings policy"
    >
      <Field
        label="Price per GB-month"
        name="pricePerGbMonth"
        type="number"
        step="0.001"
        min={0}
        max={1000}
        required
        defaultValue={initial.pricePerGbMonth}
        hint="What one GB (10^9 bytes) of disk costs per month, in your currency. Opportunities show bytes × this price."
      />
      <Field
        label="Group label"
        name="groupLabel"
        required
        defaultValue={initial.groupLabel}
        hint="The host label that names a host's group, set on the agent (e.g. --label group=ci)."
      />
      <div className="space-y-1">
        <label htmlFor="group-prices" className="block text-sm font-medium text-slate-800">
          Price per group
        </label>
        <textarea
          id="group-prices"
          rows={3}
          className={textareaClass}
          value={groupPrices}
          onChange={(e) => setGroupPrices(e.target.value)}
          aria-describedby="group-prices-hint"
        />
        <p id="group-prices-hint" className="text-xs text-slate-500">
          One per line, <code>group=price</code> per GB-month; hosts of other groups, or with no group, use the price
          above.
        </p>
      </div>
      <Field
        label="Unused image minimum age (days)"
        name="unusedImageMinAgeDays"
        type="number"
        min={0}
        max={3650}
        required
        defaultValue={initial.unusedImageMinAgeDays}
        hint="Images no container has used for this long are proposed for removal."
      />
      <Field
        label="Keep newest tags per repository"
        name="keepNewestTagsPerRepository"
        type="number"
        min={0}
        max={100}
        required
        defaultValue={initial.keepNewestTagsPerRepository}
        hint="Rollback targets: the newest N images of each repository are never proposed."
      />
      <Field
        label="Stopped container minimum age (days)"
        name="stoppedContainerMinAgeDays"
        type="number"
        min={0}
        max={3650}
        required
        defaultValue={initial.stoppedContainerMinAgeDays}
      />
      <div className="space-y-1">
        <label htmlFor="protected-patterns" className="block text-sm font-medium text-slate-800">
          Protected image patterns
        </label>
        <textarea
          id="protected-patterns"
          rows={4}
          className={textareaClass}
          value={patterns}
          onChange={(e) => setPatterns(e.target.value)}
          aria-describedby="protected-patterns-hint"
        />
        <p id="protected-patterns-hint" className="text-xs text-slate-500">
          One per line; <code>*</code> matches anything, e.g. <code>registry.example.com/team/*</code>.
        </p>
      </div>
      <div className="space-y-1">
        <label htmlFor="protected-labels" className="block text-sm font-medium text-slate-800">
          Protected labels
        </label>
        <textarea
          id="protected-labels"
          rows={3}
          className={textareaClass}
          value={labels}
          onChange={(e) => setLabels(e.target.value)}
          aria-describedby="protected-labels-hint"
        />
        <p id="protected-labels-hint" className="text-xs text-slate-500">
          One per line, <code>key</code> or <code>key=value</code>: images, containers and volumes carrying one are
          never proposed.
        </p>
      </div>
      <ErrorMessage message={groupError ?? (update.isError ? errorText(update.error) : null)} />
      {saved && (
        <Notice>Saved. Costs use the new price now; other changes apply to each host from its next snapshot.</Notice>
      )}
      <SubmitButton busy={update.isPending}>Save policy</SubmitButton>
    </form>
  );
}
