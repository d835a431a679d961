import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import { TrpcReactProvider } from '~/trpc/react';
import './globals.css';

export const metadata: Metadata = {
  title: 'Ballast',
  description: 'Container storage cost across your fleet',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 font-sans text-slate-900 antialiased">
        <header className="border-b border-slate-200 bg-white">
          <div className="mx-auto flex max-w-7xl items-center gap-3 px-6 py-3">
            <span className="text-lg font-semibold tracking-tight">Ballast</span>
            <span className="text-sm text-slate-500">fleet container storage</span>
          </div>
        </header>
        <main className="mx-auto max-w-7xl px-6 py-6">
          <TrpcReactProvider>{children}</TrpcReactProvider>
        </main>
      </body>
    </html>
  );
}
