import { describe, expect, it } from 'vitest';
import { canTransition, JOB_KINDS, JOB_STATES, parseJobSpec, TERMINAL_JOB_STATES } from './jobs.js';
import { parseAgentMessage, parseServerMessage } from './protocol.js';

describe('parseJobSpec', () => {
  it('fills defaults and accepts every kind with valid parameters', () => {
    const ok = parseJobSpec('images.pruneUnused', {});
    expect(ok).toEqual({
      ok: true,
      spec: {
        kind: 'images.pruneUnused',
        params: { minAgeDays: 14, keepNewestTagsPerRepository: 2, protectedImagePatterns: [], protectedLabels: [] },
      },
    });
    const valid: Record<string, unknown> = {
      'images.pruneDangling': {},
      'images.pruneUnused': { minAgeDays: 0 },
      'containers.pruneStopped': { minAgeDays: 1, namePattern: 'ci-*', labels: ['tier=batch'] },
      'buildCache.prune': { keepStorageBytes: 1e9 },
      'volumes.remove': { volumes: ['pgdata-old'], confirmDataLoss: true },
      'logs.truncate': { containerId: 'a'.repeat(64) },
      'logs.configureRotation': { maxSize: '50m', maxFile: 5 },
      'buildCache.configureGC': { keepStorage: '20g' },
    };
    for (const kind of JOB_KINDS) expect(parseJobSpec(kind, valid[kind]).ok, kind).toBe(true);
  });

  it('rejects unknown kinds, unknown keys and unsafe values with a readable message', () => {
    expect(parseJobSpec('system.prune', {})).toEqual({
      ok: false,
      message: expect.stringContaining('unknown job kind "system.prune"'),
    });
    const typo = parseJobSpec('images.pruneDangling', { all: true });
    expect(typo.ok).toBe(false);
    const noConfirm = parseJobSpec('volumes.remove', { volumes: ['data'] });
    expect(noConfirm).toEqual({ ok: false, message: expect.stringContaining('confirmDataLoss') });
    expect(parseJobSpec('volumes.remove', { volumes: [], confirmDataLoss: true }).ok).toBe(false);
    expect(parseJobSpec('volumes.remove', { volumes: ['../etc'], confirmDataLoss: true }).ok).toBe(false);
    expect(parseJobSpec('logs.truncate', { containerId: 'web' }).ok).toBe(false);
    expect(parseJobSpec('logs.configureRotation', { maxSize: '10 MB' }).ok).toBe(false);
  });
});

describe('job states', () => {
  it('terminal states have no way out and unknown resolves only to an outcome', () => {
    for (const s of TERMINAL_JOB_STATES) for (const t of JOB_STATES) expect(canTransition(s, t)).toBe(false);
    expect(canTransition('running', 'unknown')).toBe(true);
    expect(canTransition('unknown', 'succeeded')).toBe(true);
    expect(canTransition('unknown', 'running')).toBe(false);
    expect(canTransition('planned', 'running')).toBe(false);
    expect(canTransition('running', 'cancelled')).toBe(false);
  });
});

describe('job frames', () => {
  it('round-trips a plan request and refuses a plan request for a kind outside the closed set', () => {
    const frame = {
      v: 1,
      type: 'job.plan',
      jobId: 'job_1',
      kind: 'images.pruneDangling',
      params: {},
      deadline: '2026-01-01T00:00:00Z',
    };
    expect(parseServerMessage(JSON.stringify(frame)).ok).toBe(true);
    const bad = parseServerMessage(JSON.stringify({ ...frame, kind: 'exec' }));
    expect(bad.ok).toBe(false);
  });

  it('accepts a rejection and refuses an unknown reject code', () => {
    const frame = { v: 1, type: 'job.rejected', jobId: 'job_1', phase: 'plan', code: 'disabled', message: 'off' };
    expect(parseAgentMessage(JSON.stringify(frame)).ok).toBe(true);
    expect(parseAgentMessage(JSON.stringify({ ...frame, code: 'whatever' })).ok).toBe(false);
  });
});
