import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  AGENT_DOWNLOAD_PATH,
  AGENT_SHA256_HEADER,
  AGENT_SHA256_PATH,
  AGENT_VERSION_HEADER,
  bundleVersion,
  INSTALL_SCRIPT_PATH,
} from '@ballast/shared';
import type { Logger } from './log';

interface LoadedBundle {
  bytes: Buffer;
  sha256: string;
  version: string;
  mtimeMs: number;
  size: number;
}

export interface AgentDistribution {
  /** Serves /install.sh, the bundle and its checksum; returns false for any other path. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** The version of the bundle served, once it has been read (for the welcome frame). */
  agentVersion(): string | undefined;
  /** Reads (or re-reads, when the file changed) the bundle; null when there is none. */
  load(): Promise<LoadedBundle | null>;
}

export interface DistributionOptions {
  /** apps/agent/dist/ballast-agent.mjs, built by `npm run -w @ballast/agent bundle`. */
  bundlePath: string;
  /** BALLAST_PUBLIC_URL: what install.sh downloads from and enrolls with. */
  publicUrl: string | undefined;
  log: Logger;
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * The base URL written into install.sh. The configured public URL when there is one; else
 * the request's Host (and X-Forwarded-Proto from a TLS proxy), which is whatever the client
 * used to reach this server: right for a direct install, but a header the client chooses,
 * so such answers are never cacheable.
 */
function baseUrl(req: IncomingMessage, publicUrl: string | undefined): { url: string; fromRequest: boolean } | null {
  if (publicUrl) return { url: publicUrl, fromRequest: false };
  const host = req.headers.host;
  if (!host || !/^[A-Za-z0-9.\-:[\]]+$/.test(host)) return null;
  const forwarded = req.headers['x-forwarded-proto'];
  const proto = forwarded === 'https' || forwarded === 'http' ? forwarded : 'http';
  return { url: `${proto}://${host}`, fromRequest: true };
}

/** The POSIX sh installer, with this server's URL and the bundle's checksum written in. */
export function installScript(server: string, bundle: { sha256: string; version: string }): string {
  return `#!/bin/sh
# Installs the Ballast agent ${bundle.version} from ${server}:
#   curl -fsSL ${server}${INSTALL_SCRIPT_PATH} | sudo sh -s -- --token TOKEN [--read-only] [--ca-file PATH] [--label KEY=VALUE]...
# Downloads the agent from this server only (TLS verified by curl), checks its SHA-256,
# checks Node.js >= 20, then runs \`ballast-agent install --server ${server}\` with the arguments.
set -eu

SERVER=${shellQuote(server)}
SHA256=${shellQuote(bundle.sha256)}
VERSION=${shellQuote(bundle.version)}

die() { echo "install.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: curl -fsSL $SERVER${INSTALL_SCRIPT_PATH} | sudo sh -s -- --token TOKEN"
command -v curl >/dev/null 2>&1 || die "curl is needed"
command -v node >/dev/null 2>&1 || die "Node.js 20 or newer is needed (https://nodejs.org, or your distribution's nodejs package)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \\
  || die "Node.js $(node --version) is too old: 20 or newer is needed"

# The CA given for the agent is the one curl must trust too.
cacert=""
prev=""
for arg in "$@"; do
  case "$arg" in
    --ca-file=*) cacert="\${arg#--ca-file=}" ;;
  esac
  [ "$prev" = "--ca-file" ] && cacert="$arg"
  prev="$arg"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
bundle="$tmp/ballast-agent.mjs"

case "$SERVER" in
  https://*) proto="=https" ;;
  *) proto="=http,https"; echo "install.sh: warning: $SERVER is plain http; use https outside a test setup" >&2 ;;
esac
if [ -n "$cacert" ]; then
  curl -fsSL --proto "$proto" --cacert "$cacert" -o "$bundle" "$SERVER${AGENT_DOWNLOAD_PATH}" || die "download from $SERVER failed"
else
  curl -fsSL --proto "$proto" -o "$bundle" "$SERVER${AGENT_DOWNLOAD_PATH}" || die "download from $SERVER failed"
fi

if command -v sha256sum >/dev/null 2>&1; then
  actual=$(sha256sum "$bundle" | cut -d' ' -f1)
elif command -v shasum >/dev/null 2>&1; then
  actual=$(shasum -a 256 "$bundle" | cut -d' ' -f1)
else
  die "sha256sum (coreutils) or shasum is needed to check the download"
fi
[ "$actual" = "$SHA256" ] || die "checksum mismatch: got $actual, the server publishes $SHA256 for $VERSION (the server's agent changed meanwhile, or the download is corrupt); run again"

node "$bundle" install --server "$SERVER" "$@"
`;
}

export function createAgentDistribution(options: DistributionOptions): AgentDistribution {
  let cached: LoadedBundle | null = null;
  let warned = false;

  async function load(): Promise<LoadedBundle | null> {
    let info: { mtimeMs: number; size: number };
    try {
      info = await stat(options.bundlePath);
    } catch {
      if (!warned) {
        options.log.warn('agent bundle missing: /install.sh and the agent download answer 503', {
          path: options.bundlePath,
          fix: 'npm run -w @ballast/agent bundle',
        });
        warned = true;
      }
      cached = null;
      return null;
    }
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached;
    const bytes = await readFile(options.bundlePath);
    const version = bundleVersion(bytes.subarray(0, 512).toString('utf8'));
    if (!version) {
      options.log.error('agent bundle has no version line', { path: options.bundlePath });
      return null;
    }
    cached = {
      bytes,
      version,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      mtimeMs: info.mtimeMs,
      size: info.size,
    };
    return cached;
  }

  function unavailable(res: ServerResponse) {
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end('the agent bundle is not built on this server (npm run -w @ballast/agent bundle)\n');
  }

  return {
    load,
    agentVersion: () => cached?.version,
    handleRequest(req, res) {
      const { pathname } = new URL(req.url ?? '/', 'http://localhost');
      if (pathname !== INSTALL_SCRIPT_PATH && pathname !== AGENT_DOWNLOAD_PATH && pathname !== AGENT_SHA256_PATH) {
        return false;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return true;
      }
      const head = req.method === 'HEAD';
      load().then(
        (bundle) => {
          if (!bundle) return unavailable(res);
          const common = { [AGENT_VERSION_HEADER]: bundle.version, [AGENT_SHA256_HEADER]: bundle.sha256 };
          if (pathname === AGENT_DOWNLOAD_PATH) {
            res.writeHead(200, {
              ...common,
              'content-type': 'text/javascript; charset=utf-8',
              'content-length': bundle.bytes.length,
              'content-disposition': 'attachment; filename="ballast-agent.mjs"',
              'cache-control': 'no-cache',
            });
            res.end(head ? undefined : bundle.bytes);
            return;
          }
          if (pathname === AGENT_SHA256_PATH) {
            res.writeHead(200, { ...common, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
            res.end(head ? undefined : `${bundle.sha256}  ballast-agent.mjs\n`);
            return;
          }
          const base = baseUrl(req, options.publicUrl);
          if (!base) {
            res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
            res.end('no usable Host header, and BALLAST_PUBLIC_URL is not set\n');
            return;
          }
          const script = installScript(base.url, bundle);
          res.writeHead(200, {
            ...common,
            'content-type': 'text/x-shellscript; charset=utf-8',
            'content-length': Buffer.byteLength(script),
            'cache-control': base.fromRequest ? 'no-store' : 'no-cache',
          });
          res.end(head ? undefined : script);
        },
        (error: unknown) => {
          options.log.error('agent distribution failed', { path: pathname, error: String(error) });
          if (!res.headersSent) res.writeHead(500);
          res.end();
        },
      );
      return true;
    },
  };
}
