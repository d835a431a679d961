import http from 'node:http';
import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { BuildCacheRecord, BuildCacheSizes } from './api-types.js';
import type { DockerEndpoint } from './endpoint.js';

/**
 * BuildKit's own `DiskUsage` RPC, reached through the Engine API's `POST /grpc` (an h2c
 * upgrade to dockerd's gRPC server, the path `docker buildx du` takes with the docker
 * driver). Engines before 23.0 have no `/system/df?type=build-cache`: their `/system/df`
 * walks every writable layer and volume to answer, which costs as much as `docker system
 * df` itself. dockerd builds its df `BuildCache` list from this same RPC (builder-next
 * `Builder.DiskUsage`), so the records are the same.
 */

const DISK_USAGE_PATH = '/moby.buildkit.v1.Control/DiskUsage';

export class BuildKitError extends Error {
  override readonly name = 'BuildKitError';
}

/** Reads protobuf wire format: only what UsageRecord needs (varint, length-delimited; skips fixed32/64). */
class ProtoReader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly end = buf.length,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i += 1) {
      if (this.pos >= this.end) throw new BuildKitError('truncated varint');
      const byte = this.buf[this.pos] as number;
      this.pos += 1;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new BuildKitError('varint too long');
  }

  /** Steps over a length-delimited field and returns where it starts (it ends at `pos`). */
  private field(): number {
    const length = this.varint();
    const start = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new BuildKitError('truncated field');
    return start;
  }

  string(): string {
    const start = this.field();
    return this.buf.toString('utf8', start, this.pos);
  }

  /** A reader over one embedded message. */
  sub(): ProtoReader {
    const start = this.field();
    const r = new ProtoReader(this.buf, this.pos);
    r.pos = start;
    return r;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.field();
    else if (wireType === 5) this.pos += 4;
    else throw new BuildKitError(`unsupported wire type ${wireType}`);
  }
}

/**
 * Decodes `moby.buildkit.v1.DiskUsageResponse` (control.proto): `repeated UsageRecord record = 1`,
 * UsageRecord = 1 ID, 2 Mutable, 3 InUse, 4 Size, 5 Parent, 6 CreatedAt, 7 LastUsedAt,
 * 8 UsageCount, 9 Description, 10 RecordType, 11 Shared, 12 Parents.
 */
export function decodeDiskUsageResponse(message: Buffer): BuildCacheRecord[] {
  return decodeRecords(message, true) as BuildCacheRecord[];
}

/**
 * The same records with only their type, size, in-use and shared flags: what the build-cache
 * figures need. The IDs, parents and timestamps are stepped over, not decoded: thousands of
 * records cost a few hundred kB instead of megabytes on every slow pass.
 */
export function decodeDiskUsageSizes(message: Buffer): BuildCacheSizes[] {
  return decodeRecords(message, false);
}

function decodeRecords(message: Buffer, full: boolean): (BuildCacheRecord | BuildCacheSizes)[] {
  const records: (BuildCacheRecord | BuildCacheSizes)[] = [];
  const top = new ProtoReader(message);
  while (!top.done) {
    const key = top.varint();
    if (key !== 0x0a) {
      top.skip(key & 7);
      continue;
    }
    const r = top.sub();
    const sizes: BuildCacheSizes = { Type: 'unknown', InUse: false, Shared: false, Size: 0 };
    const rec: BuildCacheRecord | null = full ? { ID: '', Parents: [], LastUsedAt: null, ...sizes } : null;
    const into = rec ?? sizes;
    while (!r.done) {
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      if (field === 3 && tag % 8 === 0) into.InUse = r.varint() !== 0;
      else if (field === 4 && tag % 8 === 0) into.Size = r.varint();
      else if (field === 10 && tag % 8 === 2) into.Type = r.string() || 'unknown';
      else if (field === 11 && tag % 8 === 0) into.Shared = r.varint() !== 0;
      else if (rec && field === 1 && tag % 8 === 2) rec.ID = r.string();
      else if (rec && field === 5 && tag % 8 === 2) rec.Parent = r.string();
      else if (rec && field === 7 && tag % 8 === 2) rec.LastUsedAt = decodeTimestamp(r.sub());
      else if (rec && field === 12 && tag % 8 === 2) rec.Parents.push(r.string());
      else r.skip(tag % 8);
    }
    records.push(into);
  }
  return records;
}

/** google.protobuf.Timestamp (1 seconds, 2 nanos) as an ISO string. */
function decodeTimestamp(r: ProtoReader): string {
  let seconds = 0;
  let nanos = 0;
  while (!r.done) {
    const tag = r.varint();
    if (tag === 0x08) seconds = r.varint();
    else if (tag === 0x10) nanos = r.varint();
    else r.skip(tag % 8);
  }
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString();
}

/** Upgrades `POST /grpc` to h2c and hands back the raw connection. */
function upgrade(endpoint: DockerEndpoint, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...(endpoint.kind === 'unix'
        ? { socketPath: endpoint.socketPath }
        : { host: endpoint.host, port: endpoint.port }),
      method: 'POST',
      path: '/grpc',
      headers: { Connection: 'Upgrade', Upgrade: 'h2c' },
      signal,
    });
    req.on('upgrade', (_res, socket, head) => {
      // dockerd sends its HTTP/2 SETTINGS right after the 101: give them back to the stream.
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res) => {
      res.resume();
      reject(new BuildKitError(`POST /grpc answered ${res.statusCode} instead of switching to h2c`));
    });
    req.on('error', reject);
    req.end();
  });
}

/** BuildKit's build cache records, or a BuildKitError when the engine offers no such RPC. */
export async function buildKitDiskUsage<T>(
  endpoint: DockerEndpoint,
  { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal | undefined },
  decode: (message: Buffer) => T[],
): Promise<T[]> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  // Loaded here: only engines before API 1.42 are asked this way, and node's HTTP/2 module
  // adds about 1.5 MB of RSS once loaded.
  const { connect } = await import('node:http2');
  const socket = await upgrade(endpoint, combined);
  const session = connect('http://docker', { createConnection: () => socket });
  const onAbort = () => session.destroy(new BuildKitError(`DiskUsage: no answer within ${timeoutMs} ms`));
  combined.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<T[]>((resolve, reject) => {
      session.on('error', reject);
      const stream = session.request({
        ':method': 'POST',
        ':path': DISK_USAGE_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message: string | undefined;
      const noteStatus = (headers: http2.IncomingHttpHeaders) => {
        status ??= headers['grpc-status'] as string | undefined;
        message ??= headers['grpc-message'] as string | undefined;
      };
      stream.on('response', noteStatus);
      stream.on('trailers', noteStatus);
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('error', reject);
      stream.on('end', () => {
        if (status !== '0') {
          reject(new BuildKitError(`DiskUsage failed: grpc-status ${status ?? 'missing'} ${message ?? ''}`.trim()));
          return;
        }
        const body = Buffer.concat(chunks);
        // One length-prefixed message: flag byte (0 = uncompressed), 4-byte big-endian length.
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
          reject(new BuildKitError('DiskUsage: unexpected gRPC framing'));
          return;
        }
        try {
          resolve(decode(body.subarray(5)));
        } catch (err) {
          reject(err);
        }
      });
      // An empty DiskUsageRequest (no filters): just the 5-byte frame header.
      stream.end(Buffer.alloc(5));
    });
  } finally {
    combined.removeEventListener('abort', onAbort);
    session.close();
    socket.destroy();
  }
}
