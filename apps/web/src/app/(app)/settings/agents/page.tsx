import { AgentsPanel } from '~/components/agents-panel';
import { hasRole, requirePageSession } from '~/server/auth/page-session';
import { AdminOnly } from '../admin-only';

export default async function AgentsPage() {
  const session = await requirePageSession();
  if (!hasRole(session, 'admin')) return <AdminOnly />;
  return <AgentsPanel />;
}
