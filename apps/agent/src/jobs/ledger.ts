import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ZItemResult, ZJobPlan, ZJobResult } from '@ballast/shared';
import * as z from '@ballast/shared/zod';
import { writeFileAtomic } from './daemon-config.js';
import { JobRefusal } from './types.js';

const ZLedgerEntry = z.object({
  version: z.literal(1),
  jobId: z.string(),
  updatedAt: z.string(),
  /** The plan this agent produced for the job; execution accepts only this one. */
  plan: ZJobPlan,
  /** Set when execution started: outcomes are appended as each object is handled. */
  execution: z.nullable(
    z.object({
      startedAt: z.string(),
      freeBytesBefore: z.int().check(z.nonnegative()),
      engineReportedBytes: z.nullable(z.int().check(z.nonnegative())),
      items: z.array(ZItemResult),
      /** The object being acted on: if execution stops here, a resume that finds it gone knows why. */
      acting: z._default(z.nullable(z.string()), null),
    }),
  ),
  result: z.nullable(ZJobResult),
});
export type LedgerEntry = z.infer<typeof ZLedgerEntry>;

/** How long finished entries are kept. */
export const LEDGER_RETENTION_MS = 30 * 86_400_000;

const LOCK_FILE = 'lock';

/**
 * The agent's job ledger: one JSON file per job in `<stateDir>/jobs/`, replaced crash-safely
 * (temp file, fsync, rename). It makes delivery at-least-once but effect exactly-once: a
 * re-delivered plan request gets the stored plan, a re-delivered execute the stored result,
 * and an execution cut short resumes after the objects already handled.
 */
export class JobLedger {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'jobs');
  }

  private file(jobId: string): string {
    // jobIds come from the server or the CLI: keep them from naming anything outside the dir.
    return path.join(this.dir, `${encodeURIComponent(jobId).replace(/^\./, '%2E')}.json`);
  }

  async get(jobId: string): Promise<LedgerEntry | null> {
    let text: string;
    try {
      text = await readFile(this.file(jobId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const parsed = ZLedgerEntry.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new Error(`ledger entry ${this.file(jobId)} is corrupt: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }

  async put(entry: LedgerEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(
      this.file(entry.jobId),
      JSON.stringify({ ...entry, updatedAt: new Date().toISOString() }),
      0o600,
    );
  }

  /** Removes finished entries older than the retention; an execution still in progress always stays. */
  async prune(now: Date, retentionMs = LEDGER_RETENTION_MS): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const file = path.join(this.dir, name);
      try {
        const entry = ZLedgerEntry.parse(JSON.parse(await readFile(file, 'utf8')));
        const inProgress = entry.execution !== null && entry.result === null;
        if (!inProgress && now.getTime() - Date.parse(entry.updatedAt) > retentionMs) {
          await rm(file, { force: true });
          removed += 1;
        }
      } catch {
        // An unreadable entry is left for an operator to look at, never silently dropped.
      }
    }
    return removed;
  }

  /**
   * The host-wide remediation lock (one job at a time, across the running agent and the CLI):
   * a file created exclusively, holding the owner's pid. A lock whose process is gone is stale
   * and taken over.
   */
  async lock(jobId: string): Promise<() => Promise<void>> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const fh = await open(file, 'wx', 0o600);
        await fh.writeFile(JSON.stringify({ pid: process.pid, jobId }));
        await fh.close();
        return async () => {
          await rm(file, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readFile(file, 'utf8')
        .then((t) => JSON.parse(t) as { pid?: number; jobId?: string })
        .catch(() => ({}) as { pid?: number; jobId?: string });
      if (holder.pid !== undefined && processAlive(holder.pid)) {
        throw new JobRefusal('busy', `another remediation is running on this host (job ${holder.jobId ?? '?'})`);
      }
      await rm(file, { force: true });
    }
    throw new JobRefusal('busy', 'another remediation is starting on this host');
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
