import { HostsTable } from '~/components/hosts-table';

export default function HostsPage() {
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Hosts</h1>
        <p className="text-sm text-slate-600">Latest storage inventory reported by each agent. Updates live.</p>
      </div>
      <HostsTable />
      <MeasurementNotes />
    </div>
  );
}

function MeasurementNotes() {
  return (
    <section aria-labelledby="how-measured" className="rounded-lg border border-slate-200 bg-white p-4 text-sm">
      <h2 id="how-measured" className="mb-2 font-semibold">
        How these numbers are measured
      </h2>
      <dl className="grid grid-cols-1 gap-x-6 gap-y-2 md:grid-cols-2">
        <div>
          <dt className="font-medium">Images</dt>
          <dd className="text-slate-600">
            Each distinct layer counted once (layerdb <code>size</code>), over the layers of tagged and dangling images:
            equals <code>docker system df</code> Images SIZE (<code>LayersSize</code>).
          </dd>
        </div>
        <div>
          <dt className="font-medium">Containers</dt>
          <dd className="text-slate-600">
            Writable layers, apparent bytes with hard links once: equals the sum of <code>SizeRw</code> from{' '}
            <code>docker ps -as</code>.
          </dd>
        </div>
        <div>
          <dt className="font-medium">Container logs</dt>
          <dd className="text-slate-600">
            <code>stat</code> size of json-file logs with rotated and compressed parts and local-driver files. Docker
            reports these nowhere.
          </dd>
        </div>
        <div>
          <dt className="font-medium">Volumes</dt>
          <dd className="text-slate-600">
            Walk of each local volume, apparent bytes: equals <code>docker system df -v</code> volume SIZE.
          </dd>
        </div>
        <div>
          <dt className="font-medium">Build cache</dt>
          <dd className="text-slate-600">
            BuildKit records not shared with images: equals <code>docker system df</code> Build Cache SIZE.
          </dd>
        </div>
        <div>
          <dt className="font-medium">Disk</dt>
          <dd className="text-slate-600">
            <code>statfs</code> of the Docker data root: used = size − free blocks, free = blocks available to non-root
            (what <code>df</code> shows).
          </dd>
        </div>
      </dl>
      <p className="mt-3 text-slate-500">
        Byte figures are exact; the table rounds to binary units (1 MiB = 1,048,576 B). Hover a figure for the exact
        count.
      </p>
    </section>
  );
}
