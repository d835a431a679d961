import { OpportunitiesTable } from '~/components/dashboard/opportunities';
import { OpportunitySummary } from '~/components/dashboard/opportunity-summary';

export default function OpportunitiesPage() {
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Opportunities</h1>
        <p className="text-sm text-slate-600">What could be reclaimed across the fleet, and what it costs to keep.</p>
      </div>
      <OpportunitySummary />
      <OpportunitiesTable />
    </div>
  );
}
