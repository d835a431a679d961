import { redirect } from 'next/navigation';
import { SignInForm } from '~/components/auth-forms';
import { getPageSession, isFirstRun } from '~/server/auth/page-session';

export const dynamic = 'force-dynamic';

export default async function SignInPage() {
  if (await isFirstRun()) redirect('/setup');
  if (await getPageSession()) redirect('/');
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Sign in</h1>
      <SignInForm />
      <p className="text-xs text-slate-500">
        New here? Accounts are created from an invitation link an admin sends you.
      </p>
    </div>
  );
}
