import { SavingsPolicyForm } from '~/components/dashboard/savings-policy';
import { hasRole, requirePageSession } from '~/server/auth/page-session';
import { AdminOnly } from '../admin-only';

export default async function SavingsSettingsPage() {
  const session = await requirePageSession();
  if (!hasRole(session, 'admin')) return <AdminOnly />;
  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-2xl font-semibold">Savings policy</h1>
        <p className="text-sm text-slate-600">What the savings engine may propose, and what disk costs.</p>
      </div>
      <SavingsPolicyForm />
    </div>
  );
}
