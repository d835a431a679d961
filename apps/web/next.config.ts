import type { NextConfig } from 'next';

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Type checking and linting run as their own turbo tasks (tsc, biome).
  typescript: { ignoreBuildErrors: true },
  // @ballast/db only for its small helpers (ids); the Prisma client itself stays external.
  transpilePackages: ['@ballast/shared', '@ballast/db'],
  serverExternalPackages: ['pg', '@prisma/client', '@prisma/adapter-pg', '@electric-sql/pglite', 'ws'],
};

export default config;
