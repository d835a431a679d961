'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useDeferredValue, useState } from 'react';
import { useTRPC } from '~/trpc/react';
import { Bytes, Empty, LoadError, Loading, MeasurementNote, tableClass, theadClass, useLiveUpdates } from './figures';

export function FleetImages() {
  const trpc = useTRPC();
  const [search, setSearch] = useState('');
  const deferred = useDeferredValue(search.trim());
  const images = useQuery({
    ...trpc.image.fleet.queryOptions({ limit: 200, ...(deferred && { search: deferred }) }),
    placeholderData: keepPreviousData,
  });
  useLiveUpdates();

  return (
    <div className="space-y-4">
      <label className="block max-w-sm text-sm">
        <span className="block font-medium">Image ID or tag</span>
        <input
          type="search"
          className="block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm focus:border-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-600/30"
          placeholder="nginx, sha256:…"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
      </label>
      {images.isPending ? (
        <Loading what="images" />
      ) : images.isError ? (
        <LoadError what="images" message={images.error.message} />
      ) : images.data.length === 0 ? (
        <Empty>{deferred ? `No image matches “${deferred}”.` : 'No host has reported images yet.'}</Empty>
      ) : (
        <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
          <table className={tableClass} aria-label="Images across the fleet">
            <thead className={theadClass}>
              <tr>
                <th scope="col" className="px-3 py-2">
                  Image
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Hosts
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Total bytes
                </th>
                <th scope="col" className="px-3 py-2 text-right">
                  Exclusive bytes
                </th>
                <th scope="col" className="px-3 py-2">
                  Running on
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {images.data.map((image) => (
                <tr key={image.imageId} data-testid="fleet-image-row" data-image-id={image.imageId}>
                  <td className="px-3 py-2">
                    <div className="font-medium">{image.tags.join(', ') || '(untagged)'}</div>
                    <div className="font-mono text-xs text-slate-500">{image.imageId.slice(7, 19)}</div>
                  </td>
                  <td className="px-3 py-2 text-right tabular-nums" data-testid="fleet-image-hosts">
                    {image.hostCount}
                  </td>
                  <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                    <Bytes value={image.totalBytes} testId="fleet-image-total" />
                  </td>
                  <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">
                    <Bytes value={image.exclusiveBytes} testId="fleet-image-exclusive" />
                  </td>
                  <td className="px-3 py-2">
                    {image.runningOn.length === 0 ? (
                      <span className="text-slate-500">nowhere</span>
                    ) : (
                      image.runningOn.join(', ')
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <MeasurementNote>
        <p>
          Images are grouped by image ID across the latest snapshot of every host. Total bytes is the image's size (sum
          of its layers, Docker's <code>Size</code>) on each host that has it, added up: each host stores its own copy.
          Exclusive bytes adds up, per host, the layers no other image on that host uses, what removing the image
          everywhere would free.
        </p>
        <p>"Running on" lists hosts with a running container of the image at their latest snapshot.</p>
      </MeasurementNote>
    </div>
  );
}
