import Link from 'next/link';
import { ForgotPasswordForm } from '~/components/auth-forms';

export default function ForgotPasswordPage() {
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Forgot your password?</h1>
      <ForgotPasswordForm />
      <Link href="/sign-in" className="text-sm text-sky-700 underline">
        Back to sign in
      </Link>
    </div>
  );
}
