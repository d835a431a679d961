import { rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.js';
import { negotiateApiVersion } from './api-version.js';
import { DockerClient, DockerError } from './client.js';
import { parseDockerHost } from './endpoint.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A stand-in engine on a unix socket that records every request path. */
async function fakeEngine(handler: Handler) {
  const dir = await tempDir('engine');
  const socketPath = path.join(dir, 'docker.sock');
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    paths,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn();
});

async function clientFor(handler: Handler, timeouts = { quickMs: 2_000, diskUsageMs: 10_000 }) {
  const engine = await fakeEngine(handler);
  const client = new DockerClient(parseDockerHost(`unix://${engine.socketPath}`), timeouts);
  cleanups.push(async () => {
    client.close();
    await engine.close();
  });
  return { engine, client };
}

describe('API version negotiation', () => {
  it('uses min(agent max, engine max) but never less than the engine minimum', () => {
    expect(negotiateApiVersion('1.41', '1.12')).toBe('1.41');
    expect(negotiateApiVersion('1.52', '1.44')).toBe('1.47');
    expect(negotiateApiVersion('1.60', '1.50')).toBe('1.50');
    expect(negotiateApiVersion('1.9', null)).toBe('1.9');
  });

  it('reads /version unversioned, then prefixes every call with the negotiated version', async () => {
    const { engine, client } = await clientFor((req, res) => {
      if (req.url === '/version')
        return json(res, 200, { Version: '25.0.3', ApiVersion: '1.44', MinAPIVersion: '1.24' });
      return json(res, 200, []);
    });
    await client.negotiate();
    expect(client.apiVersion).toBe('1.44');
    await client.listContainers();
    expect(engine.paths).toEqual(['/version', '/v1.44/containers/json?all=1']);
  });
});

describe('DockerClient', () => {
  const version = { Version: '20.10.24', ApiVersion: '1.41', MinAPIVersion: '1.12' };

  it('retries /system/df while the engine answers "a disk usage operation is already running"', async () => {
    let calls = 0;
    const { engine, client } = await clientFor((req, res) => {
      if (req.url === '/version') return json(res, 200, version);
      // An engine without BuildKit's /grpc: the client falls back to /system/df.
      if (req.url === '/grpc') return json(res, 404, { message: 'page not found' });
      calls += 1;
      if (calls < 3) return json(res, 500, { message: 'a disk usage operation is already running' });
      return json(res, 200, { BuildCache: [{ ID: 'x', Type: 'regular', Size: 5, Shared: false, InUse: false }] });
    });
    await client.negotiate();
    expect(await client.buildCacheRecords()).toEqual([
      { ID: 'x', Parents: [], Type: 'regular', Size: 5, Shared: false, InUse: false },
    ]);
    expect(engine.paths.filter((p) => p !== '/version')).toEqual([
      '/grpc',
      '/v1.41/system/df',
      '/v1.41/system/df',
      '/v1.41/system/df',
    ]);
  });

  it('asks only for build cache from API 1.42', async () => {
    const { engine, client } = await clientFor((req, res) => {
      if (req.url === '/version') return json(res, 200, { ...version, ApiVersion: '1.43' });
      return json(res, 200, { BuildCache: null });
    });
    await client.negotiate();
    expect(await client.buildCacheRecords()).toEqual([]);
    expect(engine.paths).toContain('/v1.43/system/df?type=build-cache');
  });

  it('reports other HTTP errors with their status and the engine message, without retrying', async () => {
    const { engine, client } = await clientFor((req, res) => {
      if (req.url === '/version') return json(res, 200, version);
      if (req.url === '/grpc') return json(res, 404, { message: 'page not found' });
      return json(res, 500, { message: 'boom' });
    });
    await client.negotiate();
    const err = await client.buildCacheRecords().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect(err).toMatchObject({ kind: 'http', status: 500 });
    expect((err as Error).message).toContain('boom');
    expect(engine.paths).toEqual(['/version', '/grpc', '/v1.41/system/df']);
  });

  it('turns a 404 on inspect into null (the object went away)', async () => {
    const { client } = await clientFor((req, res) => {
      if (req.url === '/version') return json(res, 200, version);
      return json(res, 404, { message: 'No such container: abc' });
    });
    await client.negotiate();
    expect(await client.inspectContainer('abc')).toBeNull();
  });

  it('rejects answers that are not JSON or not the expected shape', async () => {
    const { client } = await clientFor((req, res) => {
      if (req.url === '/version') return json(res, 200, version);
      if (req.url?.includes('/images/')) return json(res, 200, [{ Id: 42 }]);
      res.end('<html>');
    });
    await client.negotiate();
    await expect(client.listContainers()).rejects.toMatchObject({ kind: 'invalid-response' });
    await expect(client.listImages()).rejects.toThrow(/unexpected response shape at 0\.Id/);
  });

  it('times out a call that never answers', async () => {
    const { client } = await clientFor(
      (req, res) => {
        if (req.url === '/version') return json(res, 200, version);
      },
      { quickMs: 200, diskUsageMs: 200 },
    );
    await client.negotiate();
    await expect(client.info()).rejects.toMatchObject({ kind: 'timeout' });
  });

  it('explains an unreachable engine', async () => {
    const client = new DockerClient(parseDockerHost('unix:///nonexistent/ballast/docker.sock'));
    const err = await client.negotiate().catch((e: unknown) => e);
    client.close();
    expect(err).toMatchObject({ kind: 'unreachable' });
    expect((err as Error).message).toMatch(
      /cannot reach the Docker engine at unix:\/\/\/nonexistent\/ballast\/docker\.sock.*is dockerd running/,
    );
  });
});

describe('parseDockerHost', () => {
  it('accepts unix sockets, bare paths and tcp', () => {
    expect(parseDockerHost('unix:///var/run/docker.sock')).toMatchObject({
      kind: 'unix',
      socketPath: '/var/run/docker.sock',
    });
    expect(parseDockerHost('/run/docker.sock')).toMatchObject({ kind: 'unix', socketPath: '/run/docker.sock' });
    expect(parseDockerHost('tcp://10.0.0.5:2375')).toMatchObject({ kind: 'tcp', host: '10.0.0.5', port: 2375 });
    expect(parseDockerHost('tcp://docker')).toMatchObject({ kind: 'tcp', host: 'docker', port: 2375 });
  });

  it('refuses schemes it cannot speak', () => {
    expect(() => parseDockerHost('ssh://me@host')).toThrow(/unsupported scheme/);
    expect(() => parseDockerHost('npipe:////./pipe/docker_engine')).toThrow(/unsupported scheme/);
  });
});
