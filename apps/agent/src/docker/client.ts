import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as z from '@ballast/shared/zod';
import {
  type BuildCacheRecord,
  type BuildCacheSizes,
  type BuildPruneResponse,
  type ContainerInspect,
  type ContainerSummary,
  type EngineInfo,
  type EngineVersion,
  type ImageDeleteItem,
  type ImageHistory,
  type ImageInspect,
  type ImageSummary,
  type VolumeSummary,
  ZBuildPruneResponse,
  ZContainerInspect,
  ZContainerList,
  ZEngineInfo,
  ZEngineVersion,
  ZImageDeleteResponse,
  ZImageHistory,
  ZImageInspect,
  ZImageList,
  ZSystemDfBuildCache,
  ZVolumeList,
} from './api-types.js';
import { compareApiVersions, negotiateApiVersion } from './api-version.js';
import { buildKitDiskUsage, decodeDiskUsageResponse, decodeDiskUsageSizes } from './buildkit.js';
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
  method?: 'GET' | 'POST' | 'DELETE';
}

/**
 * A minimal Engine API client, JSON only (plus BuildKit's read-only DiskUsage RPC over `/grpc`,
 * see buildkit.ts). Reads are GETs; the only writes are the named removals the remediation
 * jobs need (one image, container or volume by ID or name, and a build-cache prune by record
 * ID), each a fixed method and path: there is no generic request method to proxy through.
 * The API version is negotiated once from the unversioned `/version` and then prefixed to
 * every path.
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

  /** Containers in any state whose mounts name this volume (the engine's `volume` filter). */
  containersUsingVolume(name: string, signal?: AbortSignal): Promise<ContainerSummary[]> {
    const filters = encodeURIComponent(JSON.stringify({ volume: [name] }));
    return this.api(`/containers/json?all=1&filters=${filters}`, ZContainerList, signal);
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
  buildCacheRecords(signal?: AbortSignal): Promise<BuildCacheRecord[]> {
    return this.buildCache(decodeDiskUsageResponse, signal);
  }

  /** The same records with only what the build-cache figures need, decoded for less (see decodeDiskUsageSizes). */
  buildCacheSizes(signal?: AbortSignal): Promise<BuildCacheSizes[]> {
    return this.buildCache(decodeDiskUsageSizes, signal);
  }

  private async buildCache<T extends BuildCacheSizes>(
    decode: (message: Buffer) => T[],
    signal?: AbortSignal,
  ): Promise<(T | BuildCacheRecord)[]> {
    const typed = compareApiVersions(this.apiVersion, '1.42') >= 0;
    if (!typed) {
      try {
        return await buildKitDiskUsage(this.endpoint, { timeoutMs: this.timeouts.quickMs, signal }, decode);
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

  /**
   * Streams `/events` of the given types: `onOpen` once the engine has accepted the
   * subscription (from then on every event reaches `onEvent`, one parsed JSON object per
   * line), `onEnd` once when the stream ends for any reason. The socket does not keep the
   * process alive. Returns a function that closes the stream.
   */
  watchEvents(
    types: readonly string[],
    handlers: { onOpen: () => void; onEvent: (event: unknown) => void; onEnd: (err: Error | null) => void },
  ): () => void {
    const target = this.endpoint;
    const filters = encodeURIComponent(JSON.stringify({ type: types }));
    const path = `/v${this.apiVersion}/events?filters=${filters}`;
    let ended = false;
    const end = (err: Error | null) => {
      if (ended) return;
      ended = true;
      handlers.onEnd(err);
    };
    const req = http.request({
      ...(target.kind === 'unix' ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
      path,
      agent: false,
      headers: {
        Host: target.kind === 'unix' ? 'docker' : `${target.host}:${target.port}`,
        Accept: 'application/json',
      },
    });
    req.on('socket', (socket) => socket.unref());
    req.on('error', (err: NodeJS.ErrnoException) => end(toConnectionError(err, target, path, 'GET')));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        end(new DockerError('http', `GET ${path}: HTTP ${res.statusCode}`, res.statusCode ?? null, path));
        req.destroy();
        return;
      }
      handlers.onOpen();
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        if (pending.length > MAX_RESPONSE_BYTES) {
          req.destroy(new DockerError('invalid-response', `GET ${path}: unterminated event`, 200, path));
          return;
        }
        let nl = pending.indexOf('\n');
        while (nl >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line) {
            let event: unknown = null;
            try {
              event = JSON.parse(line);
            } catch {}
            handlers.onEvent(event);
          }
          nl = pending.indexOf('\n');
        }
      });
      res.on('error', (err) => end(err));
      res.on('close', () => end(null));
    });
    req.end();
    return () => {
      req.destroy();
      end(null);
    };
  }

  /** `GET /info`'s `ID`: identifies the engine a plan was made on. */
  async engineId(signal?: AbortSignal): Promise<string> {
    return (await this.info(signal)).ID ?? '';
  }

  /**
   * `DELETE /images/{id}` without force: the engine itself refuses (409) an image any
   * container uses, in any state, so a container created after our own check still wins.
   * Untagged parents the image alone kept are removed with it (as `docker rmi` does).
   */
  removeImage(id: string, signal?: AbortSignal): Promise<ImageDeleteItem[]> {
    return this.write('DELETE', `/images/${encodeURIComponent(id)}?force=0&noprune=0`, ZImageDeleteResponse, signal);
  }

  /** `DELETE /containers/{id}` without force (a running container is refused) and without `v` (volumes stay). */
  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.write('DELETE', `/containers/${encodeURIComponent(id)}?force=0&v=0`, null, signal);
  }

  /** `DELETE /volumes/{name}` without force: the engine refuses a volume any container references. */
  async removeVolume(name: string, signal?: AbortSignal): Promise<void> {
    await this.write('DELETE', `/volumes/${encodeURIComponent(name)}?force=0`, null, signal);
  }

  /**
   * `POST /build/prune` limited to one record: the `id` filter is a regular expression in
   * BuildKit (`id~=`), so it is anchored; `all` lets it take records of every type.
   */
  pruneBuildCacheRecord(id: string, signal?: AbortSignal): Promise<BuildPruneResponse> {
    if (!/^[a-z0-9]+$/.test(id)) throw new Error(`not a build cache record ID: ${id}`);
    const filters = encodeURIComponent(JSON.stringify({ id: [`^${id}$`] }));
    return this.write('POST', `/build/prune?all=1&filters=${filters}`, ZBuildPruneResponse, signal);
  }

  close(): void {
    this.agent.destroy();
  }

  private async write<T extends z.ZodMiniType>(
    method: 'POST' | 'DELETE',
    path: string,
    schema: T | null,
    signal?: AbortSignal,
  ): Promise<z.output<T>> {
    const full = `/v${this.apiVersion}${path}`;
    // Removals walk and delete directories: as slow as a disk-usage walk in the worst case.
    const body = await this.request(full, { timeoutMs: this.timeouts.diskUsageMs, signal, method });
    if (!schema) return undefined as z.output<T>;
    return this.parseBody(`${method} ${full}`, body, schema);
  }

  private api<T extends z.ZodMiniType>(path: string, schema: T, signal?: AbortSignal): Promise<z.output<T>> {
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

  private async getJson<T extends z.ZodMiniType>(path: string, schema: T, opts: RequestOptions): Promise<z.output<T>> {
    return this.parseBody(`GET ${path}`, await this.request(path, opts), schema);
  }

  private parseBody<T extends z.ZodMiniType>(what: string, body: string, schema: T): z.output<T> {
    const path = what.slice(what.indexOf(' ') + 1);
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new DockerError('invalid-response', `${what}: response is not JSON`, 200, path);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DockerError(
        'invalid-response',
        `${what}: unexpected response shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? ''}`,
        200,
        path,
      );
    }
    return parsed.data;
  }

  private request(path: string, { timeoutMs, signal, method = 'GET' }: RequestOptions): Promise<string> {
    const target = this.endpoint;
    return new Promise<string>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new DockerError('aborted', `${method} ${path}: aborted`, null, path));
        return;
      }
      const req = http.request({
        ...(target.kind === 'unix' ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
        path,
        method,
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
            `${method} ${path}: no answer from ${target.display} within ${timeoutMs} ms`,
            null,
            path,
          ),
        );
      }, timeoutMs);
      const onAbort = () => req.destroy(new DockerError('aborted', `${method} ${path}: aborted`, null, path));
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish();
        reject(err instanceof DockerError ? err : toConnectionError(err, target, path, method));
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
                `${method} ${path}: response larger than ${MAX_RESPONSE_BYTES} bytes`,
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
          reject(err instanceof DockerError ? err : toConnectionError(err, target, path, method));
        });
        res.on('end', () => {
          finish();
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(body);
            return;
          }
          reject(new DockerError('http', `${method} ${path}: HTTP ${status}: ${engineMessage(body)}`, status, path));
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

function toConnectionError(
  err: NodeJS.ErrnoException,
  target: DockerEndpoint,
  path: string,
  method: string,
): DockerError {
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
  return new DockerError('unreachable', `${method} ${path} on ${target.display} failed: ${err.message}`, null, path);
}
