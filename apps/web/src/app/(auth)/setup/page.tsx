import { redirect } from 'next/navigation';
import { SetupForm } from '~/components/auth-forms';
import { isFirstRun } from '~/server/auth/page-session';

export const dynamic = 'force-dynamic';

export default async function SetupPage() {
  if (!(await isFirstRun())) redirect('/sign-in');
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Set up Ballast</h1>
      <p className="text-sm text-slate-600">
        Create the first admin. Agents already reporting to this server belong to the organization you name here.
      </p>
      <SetupForm />
    </div>
  );
}
