import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import {
  type BuildCacheRecord,
  type ContainerInspect,
  type ContainerSummary,
  type EngineInfo,
  type EngineVersion,
  type ImageHistory,
  type ImageInspect,
  type ImageSummary,
  type VolumeSummary,
  ZContainerInspect,
  ZContainerList,
  ZEngineInfo,
  ZEngineVersion,
  ZImageHistory,
  ZImageInspect,
  ZImageList,
  ZSystemDfBuildCache,
  ZVolumeList,
} from './api-types.js';
import { compareApiVersions, negotiateApiVersion } from './api-version.js';
import { buildKitDiskUsage } from './buildkit.js';
import type { DockerEndpoint } from './endpoint.js';

export type DockerErrorKind = 'unreachable' | 'timeout' | 'http' | 'invalid-response' | 'aborted';

export class DockerError extends Error {
  override readonly name = 'DockerError';
  constructor(
    readonly kind: DockerErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly path: string | null = null,
  ) {
    super(message);
  }
}

export interface DockerTimeouts {
  /** /version, /info, lists and inspects: answered from memory, so a slow answer means trouble. */
  quickMs: number;
  /** /system/df: walks on engines < 23.0 even when only build cache is asked for. */
  diskUsageMs: number;
}

export const DEFAULT_TIMEOUTS: DockerTimeouts = { quickMs: 15_000, diskUsageMs: 300_000 };

/** Engine responses are JSON documents of at most a few MB; anything far larger is a fault. */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

const UNREACHABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);

interface RequestOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * A minimal Engine API client: GET only, JSON only (plus BuildKit's read-only DiskUsage RPC
 * over `/grpc`, see buildkit.ts). The API version is negotiated once from the unversioned
 * `/version` and then prefixed to every path.
 */
export class DockerClient {
  private readonly agent: http.Agent;
  private negotiated: string | null = null;

  constructor(
    readonly endpoint: DockerEndpoint,
    readonly timeouts: DockerTimeouts = DEFAULT_TIMEOUTS,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  /** Reads `/version` and (re)negotiates the API version; call again to notice an engine upgrade. */
  async negotiate(signal?: AbortSignal): Promise<EngineVersion> {
    const version = await this.getJson('/version', ZEngineVersion, { timeoutMs: this.timeouts.quickMs, signal });
    this.negotiated = negotiateApiVersion(version.ApiVersion, version.MinAPIVersion ?? null);
    return version;
  }

  get apiVersion(): string {
    if (!this.negotiated) throw new Error('DockerClient.negotiate() has not run');
    return this.negotiated;
  }

  info(signal?: AbortSignal): Promise<EngineInfo> {
    return this.api('/info', ZEngineInfo, signal);
  }

  listImages(signal?: AbortSignal): Promise<ImageSummary[]> {
    return this.api('/images/json?all=1', ZImageList, signal);
  }

  inspectImage(id: string, signal?: AbortSignal): Promise<ImageInspect | null> {
    return this.orNullOn404(this.api(`/images/${encodeURIComponent(id)}/json`, ZImageInspect, signal));
  }

  imageHistory(id: string, signal?: AbortSignal): Promise<ImageHistory | null> {
    return this.orNullOn404(this.api(`/images/${encodeURIComponent(id)}/history`, ZImageHistory, signal));
  }

  /** Without `size=1`: sizes are measured by the agent's own walks, never by asking dockerd to walk. */
  listContainers(signal?: AbortSignal): Promise<ContainerSummary[]> {
    return this.api('/containers/json?all=1', ZContainerList, signal);
  }

  inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerInspect | null> {
    return this.orNullOn404(this.api(`/containers/${encodeURIComponent(id)}/json`, ZContainerInspect, signal));
  }

  async listVolumes(signal?: AbortSignal): Promise<VolumeSummary[]> {
    return (await this.api('/volumes', ZVolumeList, signal)).Volumes;
  }

  /**
   * Build cache records. From API 1.42 `/system/df?type=build-cache` skips the container
   * and volume walks. Before that a df walks everything (as slow as `docker system df`), so
   * BuildKit's DiskUsage RPC is asked first through `/grpc`; only when the engine has no
   * such RPC does the whole df run. A concurrent df (ours or anyone's) fails at once with
   * HTTP 500 "a disk usage operation is already running": retried with backoff until the
   * df deadline.
   */
  async buildCacheRecords(signal?: AbortSignal): Promise<BuildCacheRecord[]> {
    const typed = compareApiVersions(this.apiVersion, '1.42') >= 0;
    if (!typed) {
      try {
        return await buildKitDiskUsage(this.endpoint, { timeoutMs: this.timeouts.quickMs, signal });
      } catch (err) {
        if (signal?.aborted) throw err;
      }
    }
    const path = typed ? '/system/df?type=build-cache' : '/system/df';
    const deadline = Date.now() + this.timeouts.diskUsageMs;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const remaining = Math.max(1, deadline - Date.now());
        const df = await this.getJson(`/v${this.apiVersion}${path}`, ZSystemDfBuildCache, {
          timeoutMs: remaining,
          signal,
        });
        return df.BuildCache;
      } catch (err) {
        const busy = err instanceof DockerError && err.status === 500 && /already running/i.test(err.message);
        const wait = Math.min(8_000, 250 * 2 ** attempt);
        if (!busy || Date.now() + wait >= deadline) throw err;
        await sleep(wait, undefined, { signal });
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private api<T extends z.ZodType>(path: string, schema: T, signal?: AbortSignal): Promise<z.output<T>> {
    return this.getJson(`/v${this.apiVersion}${path}`, schema, { timeoutMs: this.timeouts.quickMs, signal });
  }

  private async orNullOn404<T>(promise: Promise<T>): Promise<T | null> {
    try {
      return await promise;
    } catch (err) {
      // Objects vanish between a list and an inspect; that is not an error.
      if (err instanceof DockerError && err.status === 404) return null;
      throw err;
    }
  }

  private async getJson<T extends z.ZodType>(path: string, schema: T, opts: RequestOptions): Promise<z.output<T>> {
    const body = await this.request(path, opts);
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new DockerError('invalid-response', `GET ${path}: response is not JSON`, 200, path);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DockerError(
        'invalid-response',
        `GET ${path}: unexpected response shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? ''}`,
        200,
        path,
      );
    }
    return parsed.data;
  }

  private request(path: string, { timeoutMs, signal }: RequestOptions): Promise<string> {
    const target = this.endpoint;
    return new Promise<string>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new DockerError('aborted', `GET ${path}: aborted`, null, path));
        return;
      }
      const req = http.request({
        ...(target.kind === 'unix' ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
        path,
        method: 'GET',
        agent: this.agent,
        headers: {
          Host: target.kind === 'unix' ? 'docker' : `${target.host}:${target.port}`,
          Accept: 'application/json',
        },
      });
      const timer = setTimeout(() => {
        req.destroy(
          new DockerError(
            'timeout',
            `GET ${path}: no answer from ${target.display} within ${timeoutMs} ms`,
            null,
            path,
          ),
        );
      }, timeoutMs);
      const onAbort = () => req.destroy(new DockerError('aborted', `GET ${path}: aborted`, null, path));
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish();
        reject(err instanceof DockerError ? err : toConnectionError(err, target, path));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(
              new DockerError(
                'invalid-response',
                `GET ${path}: response larger than ${MAX_RESPONSE_BYTES} bytes`,
                res.statusCode ?? null,
                path,
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err: NodeJS.ErrnoException) => {
          finish();
          reject(err instanceof DockerError ? err : toConnectionError(err, target, path));
        });
        res.on('end', () => {
          finish();
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(body);
            return;
          }
          reject(new DockerError('http', `GET ${path}: HTTP ${status}: ${engineMessage(body)}`, status, path));
        });
      });
      req.end();
    });
  }
}

function engineMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {}
  return body.trim().slice(0, 300) || '(empty body)';
}

function toConnectionError(err: NodeJS.ErrnoException, target: DockerEndpoint, path: string): DockerError {
  if (err.code === 'EACCES') {
    return new DockerError(
      'unreachable',
      `permission denied on the Docker socket ${target.display}: run the agent as root (the socket is root-equivalent)`,
      null,
      path,
    );
  }
  if (err.code && UNREACHABLE_CODES.has(err.code)) {
    return new DockerError(
      'unreachable',
      `cannot reach the Docker engine at ${target.display} (${err.code}): is dockerd running, and are --docker-host / DOCKER_HOST right?`,
      null,
      path,
    );
  }
  return new DockerError('unreachable', `GET ${path} on ${target.display} failed: ${err.message}`, null, path);
}
