import { SignUpForm } from '~/components/auth-forms';
import { getPageSession } from '~/server/auth/page-session';

export const dynamic = 'force-dynamic';

export default async function SignUpPage({ searchParams }: { searchParams: Promise<{ invitation?: string }> }) {
  const { invitation } = await searchParams;
  const session = await getPageSession();
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Join Ballast</h1>
      {invitation ? (
        <SignUpForm token={invitation} signedInAs={session?.user.email ?? null} />
      ) : (
        <p role="alert" className="text-sm text-slate-700">
          Sign-up is by invitation only: ask an admin of your organization for an invitation link.
        </p>
      )}
    </div>
  );
}
