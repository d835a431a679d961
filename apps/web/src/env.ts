import { z } from 'zod';

/** The server's whole configuration, parsed once at boot. Nothing else reads process.env. */
const ZEnv = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    /** Loopback by default: exposing the dashboard is a deliberate choice. */
    HOST: z.string().default('127.0.0.1'),
    DATABASE_URL: z.string().url().optional(),
    BALLAST_DATA_DIR: z.string().default('./.ballast'),
    /** Shared agent token for development installs; enrollment replaces it. */
    BALLAST_AGENT_TOKEN: z.string().min(16, 'BALLAST_AGENT_TOKEN must be at least 16 characters').optional(),
    BALLAST_SNAPSHOT_INTERVAL_SECONDS: z.coerce.number().int().min(5).max(3600).default(60),
    BALLAST_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** How long hourly history, the fleet's daily totals and audit events are kept. */
    BALLAST_RETENTION_HOURLY_DAYS: z.coerce.number().int().min(15).max(3650).default(90),
    BALLAST_RETENTION_DAILY_DAYS: z.coerce.number().int().min(31).max(36500).default(730),
    BALLAST_RETENTION_AUDIT_DAYS: z.coerce.number().int().min(30).max(36500).default(730),
    /** Signs session cookies; changing it signs everyone out. Required in production. */
    BALLAST_AUTH_SECRET: z.string().min(32, 'BALLAST_AUTH_SECRET must be at least 32 characters').optional(),
    /**
     * The URL users reach the dashboard at (behind a TLS proxy, its https:// address). Links in
     * invitation and password reset messages use it, and https here makes every cookie Secure.
     */
    /** The bundled agent served at /install.sh and /agent/v1/download (default: the checkout's build). */
    BALLAST_AGENT_BUNDLE: z.string().min(1).optional(),
    BALLAST_PUBLIC_URL: z
      .string()
      .url()
      .refine((value) => /^https?:\/\//.test(value), 'BALLAST_PUBLIC_URL must be an http(s) URL')
      .transform((value) => value.replace(/\/+$/, ''))
      .optional(),
  })
  .superRefine((env, issues) => {
    if (env.NODE_ENV === 'production' && !env.BALLAST_AUTH_SECRET) {
      issues.addIssue({
        code: 'custom',
        path: ['BALLAST_AUTH_SECRET'],
        message: 'BALLAST_AUTH_SECRET is required in production (e.g. `openssl rand -base64 32`)',
      });
    }
  });

export type Env = z.infer<typeof ZEnv>;

export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  const parsed = ZEnv.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
