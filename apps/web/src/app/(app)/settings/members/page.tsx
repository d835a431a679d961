import { MembersPanel } from '~/components/settings-panels';
import { hasRole, requirePageSession } from '~/server/auth/page-session';
import { AdminOnly } from '../admin-only';

export default async function MembersPage() {
  const session = await requirePageSession();
  if (!hasRole(session, 'admin')) return <AdminOnly />;
  return <MembersPanel currentUserId={session.user.id} />;
}
