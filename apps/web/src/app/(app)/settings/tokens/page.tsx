import { TokensPanel } from '~/components/settings-panels';
import { hasRole, requirePageSession } from '~/server/auth/page-session';
import { AdminOnly } from '../admin-only';

export default async function TokensPage() {
  const session = await requirePageSession();
  if (!hasRole(session, 'admin')) return <AdminOnly />;
  return <TokensPanel />;
}
