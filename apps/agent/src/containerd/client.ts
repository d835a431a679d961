import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from '@ballast/shared/zod';
import type * as grpc from '@grpc/grpc-js';

/**
 * A small client for containerd's own gRPC API over its unix socket. Only reads, plus image
 * Delete for remediation. The namespace travels as the `containerd-namespace` header on every
 * call, exactly as containerd's Go client sends it.
 */

const PROTO_FILES = [
  'containerd/types.proto',
  'containerd/version.proto',
  'containerd/namespaces.proto',
  'containerd/images.proto',
  'containerd/content.proto',
  'containerd/snapshots.proto',
  'containerd/containers.proto',
  'containerd/leases.proto',
  'containerd/tasks.proto',
  'containerd/introspection.proto',
];

/** Set by the bundler (scripts/bundle.mjs) to the .proto sources; absent under tsx. */
declare const __BALLAST_CONTAINERD_PROTOS__: Record<string, string> | undefined;

/** The .proto sources: embedded in a bundled agent, else read from apps/agent/proto. */
function protoSources(): Record<string, string> {
  if (typeof __BALLAST_CONTAINERD_PROTOS__ === 'object' && __BALLAST_CONTAINERD_PROTOS__ !== null) {
    return __BALLAST_CONTAINERD_PROTOS__;
  }
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto');
  return Object.fromEntries(PROTO_FILES.map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
}

interface Api {
  grpc: typeof grpc;
  root: grpc.GrpcObject;
}

let loaded: Promise<Api> | null = null;
/**
 * grpc-js, proto-loader and protobufjs load on first use: an agent on a Docker-only host
 * never pays their start-up time or memory.
 */
function api(): Promise<Api> {
  loaded ??= loadApi();
  return loaded;
}

async function loadApi(): Promise<Api> {
  const grpcJs = await import('@grpc/grpc-js');
  const protoLoader = await import('@grpc/proto-loader');
  const protobuf = (await import('protobufjs')).default;
  // Parsed from strings into one root (imports resolve by type name), so the bundled agent
  // needs no files beside it. The two Google types come from protobufjs's own copies.
  const root = new protobuf.Root();
  for (const name of ['google/protobuf/empty.proto', 'google/protobuf/timestamp.proto']) {
    const common = protobuf.common.get(name);
    if (!common?.nested) throw new Error(`protobufjs lacks ${name}`);
    root.addJSON(common.nested);
  }
  const sources = protoSources();
  for (const file of PROTO_FILES) {
    const text = sources[file];
    if (text === undefined) throw new Error(`containerd API definition ${file} missing`);
    protobuf.parse(text, root, { keepCase: false });
  }
  root.resolveAll();
  const definitions = grpcJs.loadPackageDefinition(
    protoLoader.fromJSON(root.toJSON(), {
      // int64 sizes as numbers: byte counts stay far below 2^53.
      longs: Number,
      enums: String,
      defaults: true,
      keepCase: false,
    }),
  );
  return { grpc: grpcJs, root: definitions };
}

function service(api: Api, pkg: string, name: string): grpc.ServiceClientConstructor {
  let node: unknown = api.root;
  for (const part of pkg.split('.')) node = (node as Record<string, unknown>)[part];
  const ctor = (node as Record<string, unknown> | undefined)?.[name];
  if (typeof ctor !== 'function') throw new Error(`containerd service ${pkg}.${name} missing from the definitions`);
  return ctor as grpc.ServiceClientConstructor;
}

const timestamp = z.pipe(
  z.optional(z.nullable(z.object({ seconds: z.number(), nanos: z.number() }))),
  z.transform((t) =>
    t && t.seconds > 0 ? new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6)).toISOString() : null,
  ),
);
const labels = z._default(z.record(z.string(), z.string()), {});
const bytes = z.int().check(z.nonnegative());

export const ZDescriptor = z.object({
  mediaType: z.string(),
  digest: z.string(),
  size: bytes,
  annotations: labels,
});
export type Descriptor = z.infer<typeof ZDescriptor>;

export const ZCtrImage = z.object({
  name: z.string(),
  labels,
  target: ZDescriptor,
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type CtrImage = z.infer<typeof ZCtrImage>;

export const ZContentInfo = z.object({ digest: z.string(), size: bytes, createdAt: timestamp, labels });
export type ContentInfo = z.infer<typeof ZContentInfo>;

export const ZSnapshotInfo = z.object({
  name: z.string(),
  parent: z.string(),
  kind: z.enum(['UNKNOWN', 'VIEW', 'ACTIVE', 'COMMITTED']),
  createdAt: timestamp,
  labels,
});
export type SnapshotInfo = z.infer<typeof ZSnapshotInfo>;

export const ZMount = z.object({ type: z.string(), source: z.string(), options: z._default(z.array(z.string()), []) });
export type Mount = z.infer<typeof ZMount>;

export const ZCtrContainer = z.object({
  id: z.string(),
  labels,
  image: z.string(),
  runtime: z.optional(z.nullable(z.object({ name: z.string() }))),
  snapshotter: z.string(),
  snapshotKey: z.string(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type CtrContainer = z.infer<typeof ZCtrContainer>;

export const ZPluginInfo = z.object({
  type: z.string(),
  id: z.string(),
  exports: z._default(z.record(z.string(), z.string()), {}),
});
export type PluginInfo = z.infer<typeof ZPluginInfo>;

export const ZLease = z.object({ id: z.string(), createdAt: timestamp, labels });
export type Lease = z.infer<typeof ZLease>;
export const ZLeaseResource = z.object({ id: z.string(), type: z.string() });

export const ZTask = z.object({
  containerId: z.string(),
  pid: z.number(),
  status: z.enum(['UNKNOWN', 'CREATED', 'RUNNING', 'STOPPED', 'PAUSED', 'PAUSING']),
});
export type Task = z.infer<typeof ZTask>;

/** grpc status NOT_FOUND (the code is fixed by the gRPC protocol). */
const GRPC_NOT_FOUND = 5;

/** A gRPC failure with containerd's status code (5 NOT_FOUND, 9 FAILED_PRECONDITION, …). */
export class ContainerdError extends Error {
  override readonly name = 'ContainerdError';
  constructor(
    readonly code: number,
    readonly method: string,
    message: string,
  ) {
    super(`containerd ${method}: ${message}`);
  }
  get notFound(): boolean {
    return this.code === GRPC_NOT_FOUND;
  }
}

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => void;
type Streaming = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

const CALL_TIMEOUT_MS = 60_000;
/** Manifests, indexes and configs are small; anything bigger is not what the agent expects to read. */
const MAX_READ_BYTES = 8 * 1024 * 1024;

export class ContainerdClient {
  private readonly clients = new Map<string, grpc.Client>();
  readonly target: string;

  constructor(
    /** Socket path (unix:// prefix allowed), as CONTAINERD_ADDRESS gives it. */
    readonly address: string,
    readonly namespace: string,
  ) {
    const socket = address.replace(/^unix:\/\//, '');
    if (!socket.startsWith('/'))
      throw new Error(`containerd address ${address}: expected an absolute unix socket path`);
    this.target = `unix://${socket}`;
  }

  get socketPath(): string {
    return this.target.slice('unix://'.length);
  }

  private async client(pkg: string, name: string): Promise<{ api: Api; client: grpc.Client }> {
    const a = await api();
    const key = `${pkg}.${name}`;
    let c = this.clients.get(key);
    if (!c) {
      const Ctor = service(a, pkg, name);
      c = new Ctor(this.target, a.grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
      });
      this.clients.set(key, c);
    }
    return { api: a, client: c };
  }

  private metadata(a: Api): grpc.Metadata {
    const md = new a.grpc.Metadata();
    md.set('containerd-namespace', this.namespace);
    return md;
  }

  private options(signal?: AbortSignal): grpc.CallOptions {
    signal?.throwIfAborted();
    return { deadline: new Date(Date.now() + CALL_TIMEOUT_MS) };
  }

  private async unary(pkg: string, svc: string, method: string, req: unknown, signal?: AbortSignal): Promise<unknown> {
    const { api: a, client: c } = await this.client(pkg, svc);
    const client = c as unknown as Record<string, Unary>;
    const fn = client[method];
    if (!fn) throw new Error(`containerd ${svc}.${method} is not defined`);
    return new Promise((resolve, reject) => {
      const call = fn.call(client, req, this.metadata(a), this.options(signal), (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(new ContainerdError(err.code, `${svc}.${method}`, err.details || err.message));
        else resolve(res);
      }) as unknown as grpc.ClientUnaryCall | undefined;
      const onAbort = () => call?.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async stream(
    pkg: string,
    svc: string,
    method: string,
    req: unknown,
    signal?: AbortSignal,
  ): Promise<unknown[]> {
    const { api: a, client: c } = await this.client(pkg, svc);
    const client = c as unknown as Record<string, Streaming>;
    const fn = client[method];
    if (!fn) throw new Error(`containerd ${svc}.${method} is not defined`);
    return new Promise((resolve, reject) => {
      const out: unknown[] = [];
      const call = fn.call(client, req, this.metadata(a), this.options(signal));
      const onAbort = () => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (d) => out.push(d));
      call.on('error', (err: grpc.ServiceError) => {
        signal?.removeEventListener('abort', onAbort);
        reject(new ContainerdError(err.code, `${svc}.${method}`, err.details || err.message));
      });
      call.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(out);
      });
    });
  }

  async version(signal?: AbortSignal): Promise<{ version: string; revision: string }> {
    const res = await this.unary('containerd.services.version.v1', 'Version', 'Version', {}, signal);
    return z.object({ version: z.string(), revision: z.string() }).parse(res);
  }

  /** containerd's server UUID: identifies this daemon (and its root) across restarts. */
  async serverUuid(signal?: AbortSignal): Promise<string> {
    const res = await this.unary('containerd.services.introspection.v1', 'Introspection', 'Server', {}, signal);
    return z.object({ uuid: z.string().check(z.minLength(1)) }).parse(res).uuid;
  }

  /** Loaded plugins of the given types with their exports (`root` for the content store and snapshotters). */
  async plugins(types: readonly string[], signal?: AbortSignal): Promise<PluginInfo[]> {
    const filters = types.map((t) => `type==${t}`);
    const res = await this.unary(
      'containerd.services.introspection.v1',
      'Introspection',
      'Plugins',
      { filters },
      signal,
    );
    return z.object({ plugins: z.array(ZPluginInfo) }).parse(res).plugins;
  }

  async namespaces(signal?: AbortSignal): Promise<string[]> {
    const res = await this.unary('containerd.services.namespaces.v1', 'Namespaces', 'List', {}, signal);
    return z
      .object({ namespaces: z.array(z.object({ name: z.string() })) })
      .parse(res)
      .namespaces.map((n) => n.name);
  }

  async listImages(signal?: AbortSignal): Promise<CtrImage[]> {
    const res = await this.unary('containerd.services.images.v1', 'Images', 'List', {}, signal);
    return z.object({ images: z.array(ZCtrImage) }).parse(res).images;
  }

  async getImage(name: string, signal?: AbortSignal): Promise<CtrImage | null> {
    try {
      const res = await this.unary('containerd.services.images.v1', 'Images', 'Get', { name }, signal);
      return z.object({ image: ZCtrImage }).parse(res).image;
    } catch (err) {
      if (err instanceof ContainerdError && err.notFound) return null;
      throw err;
    }
  }

  /** Removes one image name; with `sync` containerd runs its garbage collection before answering. */
  async deleteImage(name: string, sync: boolean, signal?: AbortSignal): Promise<void> {
    await this.unary('containerd.services.images.v1', 'Images', 'Delete', { name, sync }, signal);
  }

  async listContent(signal?: AbortSignal): Promise<ContentInfo[]> {
    const pages = await this.stream('containerd.services.content.v1', 'Content', 'List', {}, signal);
    return pages.flatMap((p) => z.object({ info: z.array(ZContentInfo) }).parse(p).info);
  }

  /** Reads one whole blob (manifests, indexes, configs). */
  async readContent(digest: string, signal?: AbortSignal): Promise<Buffer> {
    const chunks = await this.stream('containerd.services.content.v1', 'Content', 'Read', { digest }, signal);
    const parts = chunks.map((c) => z.object({ data: z.instanceof(Buffer) }).parse(c).data);
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total > MAX_READ_BYTES) throw new Error(`blob ${digest} is ${total} bytes, more than a manifest or config`);
    return Buffer.concat(parts);
  }

  async listSnapshots(snapshotter: string, signal?: AbortSignal): Promise<SnapshotInfo[]> {
    const pages = await this.stream('containerd.services.snapshots.v1', 'Snapshots', 'List', { snapshotter }, signal);
    return pages.flatMap((p) => z.object({ info: z.array(ZSnapshotInfo) }).parse(p).info);
  }

  /** containerd's usage: blocks (st_blocks × 512, hard links once); stored at commit for committed snapshots. */
  async snapshotUsage(
    snapshotter: string,
    key: string,
    signal?: AbortSignal,
  ): Promise<{ size: number; inodes: number }> {
    const res = await this.unary(
      'containerd.services.snapshots.v1',
      'Snapshots',
      'Usage',
      { snapshotter, key },
      signal,
    );
    return z.object({ size: bytes, inodes: bytes }).parse(res);
  }

  async snapshotMounts(snapshotter: string, key: string, signal?: AbortSignal): Promise<Mount[]> {
    const res = await this.unary(
      'containerd.services.snapshots.v1',
      'Snapshots',
      'Mounts',
      { snapshotter, key },
      signal,
    );
    return z.object({ mounts: z.array(ZMount) }).parse(res).mounts;
  }

  async listContainers(signal?: AbortSignal): Promise<CtrContainer[]> {
    const res = await this.unary('containerd.services.containers.v1', 'Containers', 'List', {}, signal);
    return z.object({ containers: z.array(ZCtrContainer) }).parse(res).containers;
  }

  async listTasks(signal?: AbortSignal): Promise<Task[]> {
    const res = await this.unary('containerd.services.tasks.v1', 'Tasks', 'List', {}, signal);
    return z.object({ tasks: z.array(ZTask) }).parse(res).tasks;
  }

  async listLeases(signal?: AbortSignal): Promise<Lease[]> {
    const res = await this.unary('containerd.services.leases.v1', 'Leases', 'List', {}, signal);
    return z.object({ leases: z.array(ZLease) }).parse(res).leases;
  }

  async leaseResources(id: string, signal?: AbortSignal): Promise<Array<{ id: string; type: string }>> {
    const res = await this.unary('containerd.services.leases.v1', 'Leases', 'ListResources', { id }, signal);
    return z.object({ resources: z.array(ZLeaseResource) }).parse(res).resources;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
