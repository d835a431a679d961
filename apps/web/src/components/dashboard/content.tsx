'use client';

import { formatBytes } from '@ballast/shared/format';
import { useQuery } from '@tanstack/react-query';
import type { inferRouterOutputs } from '@trpc/server';
import type { ReactNode } from 'react';
import type { AppRouter } from '~/server/trpc/root';
import { useTRPC } from '~/trpc/react';
import { Bytes, Empty, LoadError, Loading, tableClass, theadClass } from './figures';

type HostContentData = NonNullable<inferRouterOutputs<AppRouter>['host']['detail']['content']>;

const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
const num = 'whitespace-nowrap px-3 py-2 text-right tabular-nums';
const cell = 'px-3 py-2';

function Section({ title, children, testId }: { title: string; children: ReactNode; testId?: string }) {
  return (
    <section
      aria-label={title}
      data-testid={testId}
      className="overflow-x-auto rounded-lg border border-slate-200 bg-white"
    >
      <h2 className="px-3 pt-3 font-semibold">{title}</h2>
      {children}
    </section>
  );
}

function Head({ headers }: { headers: [string, boolean][] }) {
  return (
    <thead className={theadClass}>
      <tr>
        {headers.map(([text, right]) => (
          <th key={text} scope="col" className={`px-3 py-2 ${right ? 'text-right' : ''}`}>
            {text}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** The host's duplicate layers, duplicate files and image waste, as its agent measured them. */
export function HostContent({ content }: { content: HostContentData | null }) {
  if (!content) {
    return (
      <Section title="Duplicate content" testId="host-content">
        <p className="px-3 pb-3 text-sm text-slate-500">
          No content analysis yet: the agent hashes layers on its slow cadence (<code>--hash-rate</code>), or run{' '}
          <code>ballast-agent scan --json --analyze</code>.
        </p>
      </Section>
    );
  }
  const { duplicates, waste, layerImages, fleetHosts } = content;
  const imagesOf = (chainId: string) => layerImages[chainId]?.join(', ') || `layer ${short(chainId)}`;
  return (
    <Section title="Duplicate content" testId="host-content">
      <p className="px-3 text-sm text-slate-600">
        {duplicates.analyzedLayers} layers hashed
        {duplicates.pendingLayers > 0 ? `, ${duplicates.pendingLayers} still pending` : ''}. Bytes are apparent sizes of
        regular files; a hard-linked file counts once.
      </p>
      <table className={tableClass} aria-label="Duplicate layers">
        <Head
          headers={[
            ['Layer content stored more than once', false],
            ['One copy', true],
            ['Extra copies', true],
            ['Hosts with this repeat', true],
          ]}
        />
        <tbody className="divide-y divide-slate-100">
          {duplicates.layers.length === 0 ? (
            <tr>
              <td className={`${cell} text-slate-500`} colSpan={4}>
                No layer content is stored twice.
              </td>
            </tr>
          ) : (
            duplicates.layers.map((l) => {
              const [first, ...rest] = l.chainIds.map(imagesOf);
              return (
                <tr key={l.contentDigest} data-testid="duplicate-layer-row" data-digest={l.contentDigest}>
                  <td className={cell}>
                    <div className="font-medium">
                      {rest.join('; ')} {rest.length === 1 ? 'repeats' : 'repeat'} the {formatBytes(l.bytes)} layer
                      content of {first}: rebuild on a shared base
                    </div>
                    <div className="font-mono text-xs text-slate-500">{short(l.contentDigest)}</div>
                  </td>
                  <td className={num}>
                    <Bytes value={l.bytes} />
                  </td>
                  <td className={num}>
                    <Bytes value={l.wastedBytes} testId="duplicate-layer-wasted" />
                  </td>
                  <td className={num}>
                    {fleetHosts[l.contentDigest]?.hostCount ?? 1} (
                    <Bytes value={fleetHosts[l.contentDigest]?.wastedBytes ?? l.wastedBytes} /> fleet-wide)
                  </td>
                </tr>
              );
            })
          )}
        </tbody>
      </table>
      <table className={tableClass} aria-label="Duplicate files">
        <Head
          headers={[
            [`Files of ${formatBytes(duplicates.minFileBytes)} or more stored in several layers`, false],
            ['Size', true],
            ['Extra copies', true],
          ]}
        />
        <tbody className="divide-y divide-slate-100">
          {duplicates.files.length === 0 ? (
            <tr>
              <td className={`${cell} text-slate-500`} colSpan={3}>
                No file of that size is stored twice.
              </td>
            </tr>
          ) : (
            duplicates.files.slice(0, 20).map((f) => (
              <tr key={f.contentHash} data-testid="duplicate-file-row">
                <td className={cell}>
                  <ul className="text-xs">
                    {f.copies.map((c) => (
                      <li key={`${c.chainId}${c.path}`}>
                        <span className="font-mono">{c.path}</span> in {imagesOf(c.chainId)}
                      </li>
                    ))}
                  </ul>
                </td>
                <td className={num}>
                  <Bytes value={f.bytes} />
                </td>
                <td className={num}>
                  <Bytes value={f.wastedBytes} />
                </td>
              </tr>
            ))
          )}
        </tbody>
      </table>
      <table className={tableClass} aria-label="Waste inside images">
        <Head
          headers={[
            ['Image: files its upper layers overwrite or delete', false],
            ['Redundant copies', true],
          ]}
        />
        <tbody className="divide-y divide-slate-100">
          {waste.length === 0 ? (
            <tr>
              <td className={`${cell} text-slate-500`} colSpan={2}>
                No image stores files its upper layers replace.
              </td>
            </tr>
          ) : (
            waste.map((w) => (
              <tr key={w.imageId} data-testid="image-waste-row" data-image-id={w.imageId}>
                <td className={cell}>
                  <div className="font-medium">{w.image}</div>
                  <ul className="text-xs text-slate-600">
                    {w.items.slice(0, 5).map((i) => (
                      <li key={`${i.chainId}${i.path}`}>
                        <span className="font-mono">{i.path}</span> {i.reason} ({formatBytes(i.bytes)})
                      </li>
                    ))}
                    {w.itemCount > 5 ? <li>and {w.itemCount - 5} more</li> : null}
                  </ul>
                </td>
                <td className={num}>
                  <Bytes value={w.wastedBytes} testId="image-waste-bytes" />
                </td>
              </tr>
            ))
          )}
        </tbody>
      </table>
      <p className="px-3 pb-3 text-xs text-slate-500">
        Layer content digest: sha256 over the sorted list of (path, type, mode, size, content hash or link target),
        mtimes and owners ignored. Image waste counts only the copies an upper layer hides, never the one the image
        shows.
      </p>
    </Section>
  );
}

/** Repeated layer content and image waste across the fleet (images page). */
export function FleetContent() {
  const trpc = useTRPC();
  const layers = useQuery(trpc.image.duplicateLayers.queryOptions({ limit: 50 }));
  const waste = useQuery(trpc.image.waste.queryOptions({}));
  if (layers.isPending || waste.isPending) return <Loading what="duplicate content" />;
  if (layers.isError) return <LoadError what="duplicate content" message={layers.error.message} />;
  if (waste.isError) return <LoadError what="image waste" message={waste.error.message} />;
  if (layers.data.length === 0 && waste.data.length === 0) {
    return <Empty>No host has reported duplicate layer content or image waste.</Empty>;
  }
  return (
    <Section title="Duplicate content across the fleet" testId="fleet-content">
      <table className={tableClass} aria-label="Duplicate layers across the fleet">
        <Head
          headers={[
            ['Layer content stored under several layer IDs', false],
            ['One copy', true],
            ['Hosts', true],
            ['Saved by a shared base', true],
          ]}
        />
        <tbody className="divide-y divide-slate-100">
          {layers.data.map((l) => (
            <tr key={l.contentDigest} data-testid="fleet-duplicate-layer-row" data-digest={l.contentDigest}>
              <td className={cell}>
                <div className="font-medium">{l.images.join(', ') || '(no image)'}</div>
                <div className="font-mono text-xs text-slate-500">{short(l.contentDigest)}</div>
              </td>
              <td className={num}>
                <Bytes value={l.bytes} />
              </td>
              <td className={num} data-testid="fleet-duplicate-layer-hosts">
                {l.hostCount}
              </td>
              <td className={num}>
                <Bytes value={l.wastedBytes} testId="fleet-duplicate-layer-wasted" />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <table className={tableClass} aria-label="Image waste across the fleet">
        <Head
          headers={[
            ['Image carrying overwritten or deleted files', false],
            ['Per copy', true],
            ['Hosts', true],
            ['Fleet-wide', true],
          ]}
        />
        <tbody className="divide-y divide-slate-100">
          {waste.data.map((w) => (
            <tr key={w.imageId} data-testid="fleet-image-waste-row" data-image-id={w.imageId}>
              <td className={cell}>
                <div className="font-medium">{w.name ?? '(untagged)'}</div>
                <div className="font-mono text-xs text-slate-500">{short(w.imageId)}</div>
              </td>
              <td className={num}>
                <Bytes value={w.wastedBytes} />
              </td>
              <td className={num}>{w.hostCount}</td>
              <td className={num}>
                <Bytes value={w.fleetWastedBytes} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}
