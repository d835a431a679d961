import { AutoApprovePanel } from '~/components/jobs/auto-approve';
import { OrganizationSettingsPanel } from '~/components/settings-panels';
import { hasRole, requirePageSession } from '~/server/auth/page-session';
import { AdminOnly } from '../admin-only';

export default async function OrganizationSettingsPage() {
  const session = await requirePageSession();
  if (!hasRole(session, 'admin')) return <AdminOnly />;
  return (
    <div className="space-y-6">
      <OrganizationSettingsPanel />
      <AutoApprovePanel />
    </div>
  );
}
