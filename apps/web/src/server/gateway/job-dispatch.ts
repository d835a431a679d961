import type { DbClient } from '@ballast/db';
import type { AgentMessage, ServerMessage } from '@ballast/shared';
import type { HostEvents } from '../events';
import type { Logger } from '../log';
import { applyJobFrame, type FrameOutcome } from '../services/job-agent';
import { claimDelivery, findDueJobs, sweepJobs } from '../services/job-delivery';

export type JobFrame = Extract<AgentMessage, { type: 'job.planned' | 'job.progress' | 'job.result' | 'job.rejected' }>;
export type SendToAgent = (message: ServerMessage) => void;

export interface JobDispatchOptions {
  prisma: DbClient;
  events: HostEvents;
  log: Logger;
  /** How often due jobs of this process's agents are looked up. */
  pollMs?: number;
  /** A job the agent has not answered is sent again after this long. */
  resendMs?: number;
  /** How often deadlines and silent agents are checked. */
  sweepMs?: number;
  /** A running job whose agent is silent this long becomes unknown. */
  silentAfterMs?: number;
}

export interface JobDispatch {
  /** An agent said hello on this process: its unfinished jobs are sent at once. */
  attach(orgId: string, hostId: string, send: SendToAgent): void;
  detach(orgId: string, hostId: string, send: SendToAgent): void;
  /** Applies a job frame from the agent of this host. */
  onFrame(orgId: string, hostId: string, frame: JobFrame): Promise<FrameOutcome>;
  /** One delivery pass now (tests; the poll calls it on its own). */
  deliverDue(options?: { force?: boolean }): Promise<number>;
  sweep(): Promise<{ expired: string[]; unknown: string[] }>;
  close(): void;
}

/**
 * Delivers jobs to the agents connected to this process. Postgres is the source of truth: a
 * job created on any process (or left behind by a restarted one) is found by polling the
 * due-jobs index for the hosts this process holds sockets of, and sent at least once per
 * resend interval until the agent answers. Memory holds only the connected hosts.
 */
export function createJobDispatch(options: JobDispatchOptions): JobDispatch {
  const { prisma, events, log } = options;
  const pollMs = options.pollMs ?? 2_000;
  const resendMs = options.resendMs ?? 15_000;
  const sweepMs = options.sweepMs ?? 10_000;
  const silentAfterMs = options.silentAfterMs ?? 5 * 60_000;
  const hosts = new Map<string, { orgId: string; hostId: string; sends: Set<SendToAgent> }>();
  const keyOf = (orgId: string, hostId: string) => `${orgId}/${hostId}`;
  let delivering: Promise<number> | null = null;
  let sweeping: Promise<{ expired: string[]; unknown: string[] }> | null = null;

  async function deliver(targets: { orgId: string; hostId: string }[], cutoff: Date): Promise<number> {
    const due = await findDueJobs(prisma, targets, cutoff);
    let sent = 0;
    for (const job of due) {
      const entry = hosts.get(keyOf(job.orgId, job.hostId));
      if (!entry || entry.sends.size === 0) continue;
      try {
        const message = await claimDelivery(prisma, job);
        if (!message) continue;
        for (const send of entry.sends) send(message);
        sent += 1;
        if (job.state === 'requested' || job.state === 'approved') {
          events.publish({ orgId: job.orgId, hostId: job.hostId, reason: 'job', jobId: job.id });
        }
      } catch (error) {
        log.error('job delivery failed', { jobId: job.id, error: String(error) });
      }
    }
    return sent;
  }

  const deliverDue = ({ force = false } = {}) => {
    // One pass at a time; a slow database makes passes longer, never more of them.
    if (delivering) return delivering;
    const targets = [...hosts.values()].map(({ orgId, hostId }) => ({ orgId, hostId }));
    const cutoff = new Date(Date.now() - (force ? 0 : resendMs));
    delivering = deliver(targets, cutoff).finally(() => {
      delivering = null;
    });
    return delivering;
  };

  const sweep = () => {
    if (sweeping) return sweeping;
    sweeping = sweepJobs(prisma, { silentAfterMs })
      .then((swept) => {
        for (const jobId of [...swept.expired, ...swept.unknown]) log.info('job swept', { jobId });
        return swept;
      })
      .finally(() => {
        sweeping = null;
      });
    return sweeping;
  };

  const poller = setInterval(() => {
    deliverDue().catch((error) => log.error('job poll failed', { error: String(error) }));
  }, pollMs);
  poller.unref();
  const sweeper = setInterval(() => {
    sweep().catch((error) => log.error('job sweep failed', { error: String(error) }));
  }, sweepMs);
  sweeper.unref();

  return {
    attach(orgId, hostId, send) {
      const key = keyOf(orgId, hostId);
      const entry = hosts.get(key) ?? { orgId, hostId, sends: new Set<SendToAgent>() };
      entry.sends.add(send);
      hosts.set(key, entry);
      // A reconnecting agent gets everything it still owes an answer for, without waiting.
      deliver([{ orgId, hostId }], new Date()).catch((error) =>
        log.error('job delivery on connect failed', { hostId, error: String(error) }),
      );
    },
    detach(orgId, hostId, send) {
      const key = keyOf(orgId, hostId);
      const entry = hosts.get(key);
      entry?.sends.delete(send);
      if (entry?.sends.size === 0) hosts.delete(key);
    },
    async onFrame(orgId, hostId, frame) {
      const outcome = await applyJobFrame(prisma, orgId, hostId, frame, log);
      if (outcome.applied) events.publish({ orgId, hostId, reason: 'job', jobId: outcome.jobId });
      return outcome;
    },
    deliverDue,
    sweep,
    close() {
      clearInterval(poller);
      clearInterval(sweeper);
      hosts.clear();
    },
  };
}
