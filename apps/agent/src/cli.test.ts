import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ZInventory } from '@ballast/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { requireDockerTestEnv, runCli, tempDir } from '../test/helpers.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('ballast-agent CLI', () => {
  it('prints help from any working directory', async () => {
    const { done } = runCli(['--help'], { cwd: '/' });
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ballast-agent \d+\.\d+\.\d+/);
    for (const text of [
      'scan [--json] [--progress]',
      'run --server URL',
      '--docker-host',
      '--state-dir',
      '--slow-interval',
    ]) {
      expect(result.stdout).toContain(text);
    }
    const runHelp = await runCli(['run', '--help']).done;
    expect(runHelp.stdout).toContain('--ca-file');
    expect(runHelp.stdout).toContain('/agent/v1/ws');
  });

  it('rejects unknown commands and flags with exit status 2', async () => {
    const bogus = await runCli(['frobnicate']).done;
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain('unknown command: frobnicate');
    const badFlag = await runCli(['scan', '--insecure']).done;
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/Unknown option '--insecure'/);
  });

  it('fails clearly when dockerd cannot be reached', async () => {
    const state = await tempDir('cli-unreachable');
    dirs.push(state);
    const result = await runCli(['scan', '--json', '--state-dir', state], {
      env: { DOCKER_HOST: 'unix:///nonexistent/ballast-test/docker.sock' },
    }).done;
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(
      'cannot reach the Docker engine at unix:///nonexistent/ballast-test/docker.sock (ENOENT): is dockerd running',
    );
  });

  it('scan --json prints one inventory that validates against the shared schema', async () => {
    const env = requireDockerTestEnv();
    const state = await tempDir('cli-scan');
    dirs.push(state);
    const result = await runCli(
      ['scan', '--json', '--progress', '--state-dir', path.join(state, 's'), '--label', 'role=ci'],
      {
        env: { DOCKER_HOST: env.host },
      },
    ).done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const parsed = ZInventory.safeParse(JSON.parse(result.stdout));
    expect(parsed.success).toBe(true);
    expect(parsed.data?.host.labels).toEqual({ role: 'ci' });
    expect(parsed.data?.engine.dataRoot).toBe(env.dataRoot);
    expect(parsed.data?.totals.unattributedBytes).not.toBeNull();
  });
});
