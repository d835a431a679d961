import type { JobKind, JobPlan, JobRejectCode, JobResult } from '@ballast/shared';
import { parseJobSpec, ZJobPlan } from '@ballast/shared';
import { kindAllowed } from '../config/file.js';
import { planDigest } from './canonical.js';
import { type ExecuteHooks, executePlan } from './executor.js';
import { hostJobKinds } from './kinds.js';
import { JobLedger } from './ledger.js';
import { engineIdentity, makePlan } from './plan.js';
import { type JobEnv, JobRefusal } from './types.js';

export type Rejection = { ok: false; code: JobRejectCode; message: string };
export type PlanOutcome = { ok: true; plan: JobPlan; stored: boolean } | Rejection;
export type ExecuteOutcome = { ok: true; result: JobResult; stored: boolean } | Rejection;

function reject(err: unknown): Rejection {
  if (err instanceof JobRefusal) return { ok: false, code: err.code, message: err.message };
  throw err;
}

function expired(deadline: string | undefined, now: Date): boolean {
  return deadline !== undefined && Date.parse(deadline) <= now.getTime();
}

/**
 * Plans and executes jobs under the agent's own rules, answering re-deliveries from the
 * ledger. Used by both the run loop (server-driven jobs) and the CLI (local jobs).
 */
export class JobService {
  readonly ledger: JobLedger;

  constructor(
    private readonly env: JobEnv,
    stateDir: string,
  ) {
    this.ledger = new JobLedger(stateDir);
  }

  /** The kinds this host can run (before the config's own limits). */
  get hostKinds(): JobKind[] {
    return hostJobKinds(this.env);
  }

  async plan(
    jobId: string,
    kind: string,
    params: unknown,
    deadline?: string,
    signal?: AbortSignal,
  ): Promise<PlanOutcome> {
    try {
      const spec = parseJobSpec(kind, params);
      if (!spec.ok) throw new JobRefusal('invalid', spec.message);
      const allowed = kindAllowed(this.env.remediation, spec.spec.kind);
      if (!allowed.ok) throw new JobRefusal('disabled', allowed.reason);
      const stored = await this.ledger.get(jobId);
      if (stored) {
        if (stored.plan.kind !== spec.spec.kind) {
          throw new JobRefusal('invalid', `job ${jobId} was planned as ${stored.plan.kind}, not ${spec.spec.kind}`);
        }
        return { ok: true, plan: stored.plan, stored: true };
      }
      if (expired(deadline, this.env.now())) throw new JobRefusal('expired', `the deadline ${deadline} has passed`);
      const plan = await makePlan(this.env, jobId, spec.spec, signal);
      await this.ledger.put({ version: 1, jobId, updatedAt: '', plan, execution: null, result: null });
      await this.ledger.prune(this.env.now()).catch(() => 0);
      return { ok: true, plan, stored: false };
    } catch (err) {
      return reject(err);
    }
  }

  /**
   * Executes a plan this agent produced. Order of checks: a stored result answers at once
   * (never acting twice); then the local policy, the deadline, the plan's identity (digest and
   * engine), and the host-wide lock.
   */
  async execute(input: unknown, deadline?: string, hooks: ExecuteHooks = {}): Promise<ExecuteOutcome> {
    try {
      const parsed = ZJobPlan.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new JobRefusal('invalid', `not a plan: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
      }
      const plan = parsed.data;
      const entry = await this.ledger.get(plan.jobId);
      if (entry?.result) return { ok: true, result: entry.result, stored: true };
      const allowed = kindAllowed(this.env.remediation, plan.kind);
      if (!allowed.ok) throw new JobRefusal('disabled', allowed.reason);
      if (!entry) throw new JobRefusal('plan_mismatch', `this agent has no plan for job ${plan.jobId}`);
      if (planDigest(plan) !== plan.digest || plan.digest !== entry.plan.digest) {
        throw new JobRefusal('plan_mismatch', `plan ${plan.jobId} is not the one this agent produced (digest differs)`);
      }
      // A job already started resumes whatever the deadline: stopping halfway helps no one.
      if (!entry.execution && expired(deadline, this.env.now())) {
        throw new JobRefusal('expired', `the deadline ${deadline} has passed`);
      }
      const engineId = await engineIdentity(this.env, hooks.signal);
      if (engineId !== entry.plan.engineId) {
        throw new JobRefusal(
          'plan_mismatch',
          `the plan was made on engine ${entry.plan.engineId}, this is ${engineId}`,
        );
      }
      const release = await this.ledger.lock(plan.jobId);
      try {
        // Re-read under the lock: another process may have finished it meanwhile.
        const fresh = (await this.ledger.get(plan.jobId)) ?? entry;
        if (fresh.result) return { ok: true, result: fresh.result, stored: true };
        return { ok: true, result: await executePlan(this.env, this.ledger, fresh, hooks), stored: false };
      } finally {
        await release();
      }
    } catch (err) {
      return reject(err);
    }
  }
}
