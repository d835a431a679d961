import { FleetOverview } from '~/components/dashboard/overview';

export default function OverviewPage() {
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Fleet overview</h1>
        <p className="text-sm text-slate-600">
          Storage, savings and disk-full forecasts across every host. Updates live.
        </p>
      </div>
      <FleetOverview />
    </div>
  );
}
