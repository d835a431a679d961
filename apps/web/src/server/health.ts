import type { DbClient } from '@ballast/db';

export interface HealthReport {
  status: 'ok' | 'degraded';
  database: { ok: boolean; embedded: boolean; latencyMs: number | null; error?: string };
  gateway: { ok: boolean; connectedAgents: number };
}

/** What /healthz answers: the database must answer a query within the timeout. */
export async function healthReport(
  prisma: DbClient,
  state: { embedded: boolean; connectedAgents: number },
  timeoutMs = 2_000,
): Promise<HealthReport> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const database = await Promise.race([
    prisma.$queryRaw`SELECT 1`.then(() => ({ ok: true as const })),
    new Promise<{ ok: false; error: string }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    }),
  ])
    .catch((error: unknown) => ({ ok: false as const, error: error instanceof Error ? error.message : String(error) }))
    .finally(() => clearTimeout(timer));
  const latencyMs = database.ok ? Math.round((performance.now() - started) * 10) / 10 : null;
  return {
    status: database.ok ? 'ok' : 'degraded',
    database: { ...database, embedded: state.embedded, latencyMs },
    gateway: { ok: true, connectedAgents: state.connectedAgents },
  };
}
