import { describe, expect, it } from 'vitest';
import { parseJobParams } from '../cli.js';
import type { BuildCacheRecord } from '../docker/api-types.js';
import { canonicalJson } from './canonical.js';
import { planBuildCachePrune } from './plan-build-cache.js';
import { repositoryOf } from './plan-images.js';
import { truncationRefusal } from './plan-logs.js';
import { globMatches, labelRuleMatches } from './policy.js';

const rec = (ID: string, Size: number, over: Partial<BuildCacheRecord> = {}): BuildCacheRecord => ({
  ID,
  Parents: [],
  Type: 'regular',
  InUse: false,
  Shared: false,
  Size,
  ...over,
});

describe('protection rules', () => {
  it('matches globs over the whole reference and labels by key or key=value', () => {
    expect(globMatches('postgres:*', 'postgres:16')).toBe(true);
    expect(globMatches('postgres:*', 'my/postgres:16')).toBe(false);
    expect(globMatches('registry.example.com/*', 'registry.example.com/a/b:1')).toBe(true);
    expect(globMatches('a.b', 'aXb')).toBe(false);
    expect(labelRuleMatches('keep', { keep: '' })).toBe(true);
    expect(labelRuleMatches('tier=db', { tier: 'db' })).toBe(true);
    expect(labelRuleMatches('tier=db', { tier: 'web' })).toBe(false);
  });

  it('splits repositories from tags, keeping a registry port', () => {
    expect(repositoryOf('nginx:1.27')).toBe('nginx');
    expect(repositoryOf('localhost:5000/app:2')).toBe('localhost:5000/app');
    expect(repositoryOf('localhost:5000/app')).toBe('localhost:5000/app');
  });
});

describe('canonical JSON', () => {
  it('is independent of key order and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: undefined }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"y":1}]},"b":1}',
    );
  });
});

describe('buildCache.prune planning', () => {
  const now = new Date('2026-11-23T12:00:00Z');
  it('orders children first, keeps in-use records and the parents of kept ones, counts shared as 0', () => {
    const records = [
      rec('base', 100, { Shared: true }),
      rec('mid', 200, { Parents: ['base'], LastUsedAt: '2026-11-01T00:00:00Z' }),
      rec('top', 300, { Parent: 'mid', LastUsedAt: '2026-11-01T00:00:00Z' }),
      rec('busy', 50, { InUse: true }),
      rec('fresh', 10, { Parents: ['base'], LastUsedAt: '2026-11-23T11:00:00Z' }),
    ];
    const all = planBuildCachePrune(records, { kind: 'buildCache.prune', params: {} }, now);
    expect(all.items.map((i) => i.id).sort()).toEqual(['base', 'fresh', 'mid', 'top']);
    const ids = all.items.map((i) => i.id);
    expect(ids.indexOf('top')).toBeLessThan(ids.indexOf('mid'));
    expect(ids.indexOf('mid')).toBeLessThan(ids.indexOf('base'));
    expect(ids.indexOf('fresh')).toBeLessThan(ids.indexOf('base'));
    expect(all.items.find((i) => i.id === 'base')?.bytes).toBe(0);
    expect(all.skipped).toEqual([expect.objectContaining({ id: 'busy', reason: 'in use by a build' })]);

    const old = planBuildCachePrune(records, { kind: 'buildCache.prune', params: { unusedForHours: 24 } }, now);
    // `fresh` stays, so `base` (which it builds on) stays too.
    expect(old.items.map((i) => i.id)).toEqual(['top', 'mid']);
    expect(old.skipped.map((s) => s.id).sort()).toEqual(['base', 'busy', 'fresh']);
  });
});

describe('logs.truncate safety', () => {
  const live = (id: string) => ({
    path: `/d/containers/${id}/${id}-json.log`,
    bytes: 10,
    allocatedBytes: 4096,
    compressed: false,
  });
  const base = { id: 'c1', state: 'running', logDriver: 'json-file', logOptions: {}, logFiles: [live('c1')] };
  it('allows only an unrotated json-file log without rotation configured', () => {
    expect(truncationRefusal(base)).toBeNull();
    expect(truncationRefusal({ ...base, logOptions: { 'max-size': '10m' } })).toMatch(/rotation is configured/);
    expect(
      truncationRefusal({ ...base, logFiles: [live('c1'), { ...live('c1'), path: `${live('c1').path}.1` }] }),
    ).toMatch(/has rotated/);
    expect(truncationRefusal({ ...base, logDriver: 'local' })).toMatch(/log driver local/);
    expect(truncationRefusal({ ...base, logFiles: [] })).toMatch(/no json-file log/);
  });
});

describe('--param parsing', () => {
  it('reads JSON values, strings otherwise, and collects repeated keys', () => {
    expect(
      parseJobParams(['minAgeDays=30', 'namePattern=web-*', 'volumes=a', 'volumes=["b","c"]'], '{"x":true}'),
    ).toEqual({ x: true, minAgeDays: 30, namePattern: 'web-*', volumes: ['a', 'b', 'c'] });
    expect(() => parseJobParams(['novalue'], undefined)).toThrow(/KEY=VALUE/);
    expect(() => parseJobParams([], '[1]')).toThrow(/JSON object/);
  });
});
