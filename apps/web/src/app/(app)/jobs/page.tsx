import { Suspense } from 'react';
import { Loading } from '~/components/dashboard/figures';
import { JobsList } from '~/components/jobs/jobs-list';

export default function JobsPage() {
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Jobs</h1>
        <p className="text-sm text-slate-600">
          Remediation jobs: each one is planned by its agent as a dry run, approved by an operator, and executed exactly
          as planned.
        </p>
      </div>
      <Suspense fallback={<Loading what="jobs" />}>
        <JobsList />
      </Suspense>
    </div>
  );
}
