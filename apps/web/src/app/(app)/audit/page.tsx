import { AuditLog } from '~/components/jobs/audit-log';

export default function AuditPage() {
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Audit</h1>
        <p className="text-sm text-slate-600">
          Every change of every job and campaign, written in the same transaction as the change.
        </p>
      </div>
      <AuditLog />
    </div>
  );
}
