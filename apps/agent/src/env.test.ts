import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../test/helpers.js';
import {
  agentSocketUrl,
  ConfigError,
  readEnv,
  resolveCommonConfig,
  resolveRunConfig,
  resolveScanConfig,
} from './env.js';

describe('configuration', () => {
  it('takes the docker host from the flag, then DOCKER_HOST, then the default socket', () => {
    const env = readEnv({ DOCKER_HOST: 'unix:///env.sock' });
    expect(resolveCommonConfig({ 'docker-host': 'unix:///flag.sock' }, env).docker.display).toBe('unix:///flag.sock');
    expect(resolveCommonConfig({}, env).docker.display).toBe('unix:///env.sock');
    expect(resolveCommonConfig({}, readEnv({})).docker.display).toBe('unix:///var/run/docker.sock');
  });

  it('applies defaults and parses labels', () => {
    const cfg = resolveCommonConfig({ label: ['env=prod', 'team=a=b'] }, readEnv({}));
    expect(cfg).toMatchObject({
      stateDir: '/var/lib/ballast-agent',
      slowIntervalSeconds: 600,
      machineIdFile: '/etc/machine-id',
      dataRootOverride: null,
      hostLabels: { env: 'prod', team: 'a=b' },
      logLevel: 'info',
    });
  });

  it('names the offending flag', () => {
    expect(() => resolveCommonConfig({ 'slow-interval': '0' }, readEnv({}))).toThrow(
      /--slow-interval: must be at least 1/,
    );
    expect(() => resolveCommonConfig({ label: ['nokey'] }, readEnv({}))).toThrow(/--label.*key=value/);
    expect(() => readEnv({ BALLAST_LOG_LEVEL: 'loud' })).toThrow(ConfigError);
  });

  it('sets the content-analysis budget: unlimited for scan --analyze, paced in run, off with --hash-rate 0', () => {
    const env = readEnv({ BALLAST_TOKEN: 't' });
    expect(resolveScanConfig({}, env).analysis).toBeNull();
    expect(resolveScanConfig({ analyze: true }, env).analysis).toEqual({ bytesPerSecond: null, passSeconds: null });
    expect(resolveScanConfig({ analyze: true, 'hash-rate': '8' }, env).analysis).toEqual({
      bytesPerSecond: 8 * 1024 * 1024,
      passSeconds: null,
    });
    const server = { server: 'https://ballast.example.com' };
    expect(resolveRunConfig(server, env).analysis).toEqual({ bytesPerSecond: 32 * 1024 * 1024, passSeconds: 120 });
    expect(resolveRunConfig({ ...server, 'hash-pass-seconds': '30' }, env).analysis?.passSeconds).toBe(30);
    expect(resolveRunConfig({ ...server, 'hash-rate': '0' }, env).analysis).toBeNull();
    expect(() => resolveRunConfig({ ...server, 'hash-rate': 'fast' }, env)).toThrow(/--hash-rate/);
  });

  it('builds the agent socket URL from an http(s) or ws(s) base', () => {
    expect(agentSocketUrl('https://ballast.example.com')).toBe('wss://ballast.example.com/agent/v1/ws');
    expect(agentSocketUrl('http://127.0.0.1:3000/')).toBe('ws://127.0.0.1:3000/agent/v1/ws');
    expect(agentSocketUrl('https://example.com/ballast')).toBe('wss://example.com/ballast/agent/v1/ws');
    expect(agentSocketUrl('wss://example.com/agent/v1/ws')).toBe('wss://example.com/agent/v1/ws');
    expect(() => agentSocketUrl('ftp://example.com')).toThrow(ConfigError);
  });

  it('requires a server and a token for run, reading the token file when given', async () => {
    expect(() => resolveRunConfig({}, readEnv({}))).toThrow(/--server/);
    expect(() => resolveRunConfig({ server: 'https://x' }, readEnv({}))).toThrow(/token/);
    const dir = await tempDir('env');
    try {
      await writeFile(path.join(dir, 'token'), 'from-file-token\n');
      const cfg = resolveRunConfig(
        { server: 'https://x', 'token-file': path.join(dir, 'token'), interval: '5' },
        readEnv({ BALLAST_TOKEN: 'from-env' }),
      );
      expect(cfg).toMatchObject({ token: 'from-file-token', intervalSeconds: 5, serverUrl: 'wss://x/agent/v1/ws' });
      expect(resolveRunConfig({}, readEnv({ BALLAST_SERVER: 'https://y', BALLAST_TOKEN: 'env-token' }))).toMatchObject({
        token: 'env-token',
        intervalSeconds: 60,
        caFile: null,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads the config file under flags and environment, and refuses a bad one with the key named', async () => {
    const dir = await tempDir('config');
    try {
      const file = path.join(dir, 'agent.json');
      await writeFile(
        file,
        JSON.stringify({
          server: 'https://ballast.example.com',
          stateDir: '/srv/ballast',
          labels: { env: 'prod' },
          intervalSeconds: 30,
          remediation: { disabledKinds: ['volumes.remove'], protectedImagePatterns: ['postgres:*'] },
        }),
      );
      const cfg = resolveRunConfig({ config: file, token: 't' }, readEnv({ BALLAST_STATE_DIR: '/env/state' }));
      expect(cfg).toMatchObject({
        configFile: file,
        serverUrl: 'wss://ballast.example.com/agent/v1/ws',
        stateDir: '/env/state',
        hostLabels: { env: 'prod' },
        intervalSeconds: 30,
        remediation: {
          enabled: true,
          disabledKinds: ['volumes.remove'],
          protectedImagePatterns: ['postgres:*'],
          protectedLabels: ['com.ballast.protect'],
          daemonConfigFile: '/etc/docker/daemon.json',
        },
      });
      expect(resolveCommonConfig({ label: ['env=dev'] }, readEnv({ BALLAST_CONFIG: file })).hostLabels).toEqual({
        env: 'dev',
      });

      await writeFile(file, JSON.stringify({ remediation: { enabled: 'yes' }, serverr: 'x' }));
      expect(() => resolveCommonConfig({ config: file }, readEnv({}))).toThrow(/remediation\.enabled/);
      await writeFile(file, '{ not json');
      expect(() => resolveCommonConfig({ config: file }, readEnv({}))).toThrow(/not valid JSON/);
      expect(() => resolveCommonConfig({ config: path.join(dir, 'missing.json') }, readEnv({}))).toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
