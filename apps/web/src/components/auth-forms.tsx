'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { type FormEvent, useState } from 'react';
import { useTRPC } from '~/trpc/react';
import { authPost } from './auth-client';
import { ErrorMessage, Field, Notice, SubmitButton } from './form';

const formValue = (form: HTMLFormElement, name: string) => {
  const value = new FormData(form).get(name);
  return typeof value === 'string' ? value : '';
};

/** A full navigation, so the server renders the next page with the new session cookie. */
const goTo = (path: string) => window.location.assign(path);

export function SetupForm() {
  const trpc = useTRPC();
  const setup = useMutation(trpc.account.setup.mutationOptions({ onSuccess: () => goTo('/') }));
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    setup.mutate({
      organizationName: formValue(form, 'organizationName'),
      name: formValue(form, 'name'),
      email: formValue(form, 'email'),
      password: formValue(form, 'password'),
    });
  };
  return (
    <form onSubmit={onSubmit} className="space-y-4" aria-label="Create the first admin">
      <ErrorMessage message={setup.error?.message} />
      <Field label="Organization name" name="organizationName" required defaultValue="" autoComplete="organization" />
      <Field label="Your name" name="name" required autoComplete="name" />
      <Field label="Email" name="email" type="email" required autoComplete="email" />
      <Field
        label="Password"
        name="password"
        type="password"
        required
        minLength={10}
        autoComplete="new-password"
        hint="At least 10 characters."
      />
      <SubmitButton busy={setup.isPending}>Create admin account</SubmitButton>
    </form>
  );
}

export function SignInForm() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    setBusy(true);
    const result = await authPost('/sign-in/email', {
      email: formValue(form, 'email'),
      password: formValue(form, 'password'),
    });
    setBusy(false);
    if (result.ok) goTo('/');
    else setError(result.message);
  };
  return (
    <form onSubmit={onSubmit} className="space-y-4" aria-label="Sign in">
      <ErrorMessage message={error} />
      <Field label="Email" name="email" type="email" required autoComplete="email" />
      <Field label="Password" name="password" type="password" required autoComplete="current-password" />
      <div className="flex items-center justify-between">
        <SubmitButton busy={busy}>Sign in</SubmitButton>
        <Link href="/forgot-password" className="text-sm text-sky-700 underline">
          Forgot your password?
        </Link>
      </div>
    </form>
  );
}

export function SignUpForm({ token, signedInAs }: { token: string; signedInAs: string | null }) {
  const trpc = useTRPC();
  const preview = useQuery({ ...trpc.invitation.preview.queryOptions({ token }), retry: false });
  const acceptNew = useMutation(trpc.invitation.acceptAsNewUser.mutationOptions({ onSuccess: () => goTo('/') }));
  const acceptExisting = useMutation(trpc.invitation.accept.mutationOptions({ onSuccess: () => goTo('/') }));

  if (preview.isPending) return <p className="text-sm text-slate-600">Checking the invitation…</p>;
  if (preview.error) return <ErrorMessage message={preview.error.message} />;
  const invitation = preview.data;
  const intro = (
    <p className="text-sm text-slate-700">
      You are invited to <strong>{invitation.organizationName}</strong> as <strong>{invitation.role}</strong>.
    </p>
  );

  if (signedInAs) {
    return (
      <div className="space-y-4">
        {intro}
        <ErrorMessage message={acceptExisting.error?.message} />
        <p className="text-sm text-slate-600">You are signed in as {signedInAs}.</p>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            acceptExisting.mutate({ token });
          }}
        >
          <SubmitButton busy={acceptExisting.isPending}>Accept invitation</SubmitButton>
        </form>
      </div>
    );
  }
  if (invitation.accountExists) {
    return (
      <div className="space-y-4">
        {intro}
        <Notice>
          An account for {invitation.email} already exists.{' '}
          <Link className="underline" href={`/sign-in?next=${encodeURIComponent(`/sign-up?invitation=${token}`)}`}>
            Sign in
          </Link>{' '}
          and open this link again to accept.
        </Notice>
      </div>
    );
  }
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    acceptNew.mutate({ token, name: formValue(form, 'name'), password: formValue(form, 'password') });
  };
  return (
    <form onSubmit={onSubmit} className="space-y-4" aria-label="Create your account">
      {intro}
      <ErrorMessage message={acceptNew.error?.message} />
      <Field label="Email" name="email" type="email" value={invitation.email} readOnly />
      <Field label="Your name" name="name" required autoComplete="name" />
      <Field
        label="Password"
        name="password"
        type="password"
        required
        minLength={10}
        autoComplete="new-password"
        hint="At least 10 characters."
      />
      <SubmitButton busy={acceptNew.isPending}>Create account and join</SubmitButton>
    </form>
  );
}

export function ForgotPasswordForm() {
  const [state, setState] = useState<{ busy: boolean; sent: boolean; error: string | null }>({
    busy: false,
    sent: false,
    error: null,
  });
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const email = formValue(event.currentTarget, 'email');
    setState({ busy: true, sent: false, error: null });
    const result = await authPost('/request-password-reset', { email, redirectTo: '/reset-password' });
    setState({ busy: false, sent: result.ok, error: result.ok ? null : result.message });
  };
  return (
    <form onSubmit={onSubmit} className="space-y-4" aria-label="Reset your password">
      <ErrorMessage message={state.error} />
      {state.sent ? (
        <Notice>
          If an account exists for that address, a one-time reset link has been issued. Without a mail server, your
          Ballast administrator finds it in the server log.
        </Notice>
      ) : null}
      <Field label="Email" name="email" type="email" required autoComplete="email" />
      <SubmitButton busy={state.busy}>Send reset link</SubmitButton>
    </form>
  );
}

export function ResetPasswordForm({ token }: { token: string }) {
  const [state, setState] = useState<{ busy: boolean; done: boolean; error: string | null }>({
    busy: false,
    done: false,
    error: null,
  });
  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const newPassword = formValue(event.currentTarget, 'password');
    setState({ busy: true, done: false, error: null });
    const result = await authPost('/reset-password', { token, newPassword });
    setState({ busy: false, done: result.ok, error: result.ok ? null : result.message });
  };
  if (state.done) {
    return (
      <Notice>
        Your password is changed and your other sessions are signed out.{' '}
        <Link className="underline" href="/sign-in">
          Sign in
        </Link>
        .
      </Notice>
    );
  }
  return (
    <form onSubmit={onSubmit} className="space-y-4" aria-label="Choose a new password">
      <ErrorMessage message={state.error} />
      <Field
        label="New password"
        name="password"
        type="password"
        required
        minLength={10}
        autoComplete="new-password"
        hint="At least 10 characters."
      />
      <SubmitButton busy={state.busy}>Set new password</SubmitButton>
    </form>
  );
}
