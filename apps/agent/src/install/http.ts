import http from 'node:http';
import https from 'node:https';
import { trustedCAs } from '../enroll/enroll.js';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** TLS and connection failures an operator can act on, in words rather than OpenSSL codes. */
export function explainNetworkError(err: NodeJS.ErrnoException, origin: string, caFile: string | null): string {
  const code = err.code ?? '';
  const trust = caFile
    ? `the certificate is not signed by ${caFile} nor a system CA`
    : 'pass --ca-file with the CA that signed the server certificate (or fix the server chain)';
  switch (code) {
    case 'ECONNREFUSED':
      return `${origin} refused the connection: is the Ballast server running, and is the URL (port) right?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${origin}: the name does not resolve (${code}); check the URL and this host's DNS`;
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${origin}: ${code}; check the route and firewalls between this host and the server`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `${origin}: TLS verification failed (${code}): ${trust}`;
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return `${origin}: TLS verification failed (${code}): the server certificate is outside its validity period (also check this host's clock)`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `${origin}: TLS verification failed: the certificate does not name this host; use the URL the certificate was issued for`;
    default:
      return `${origin}: ${err.message}`;
  }
}

export class FetchError extends Error {
  override readonly name = 'FetchError';
}

/**
 * GET with the server certificate always verified (system roots plus the optional CA bundle).
 * Bodies above maxBytes are refused rather than buffered.
 */
export function httpGet(
  url: URL,
  ca: { pem: string | null; file: string | null },
  { timeoutMs = 30_000, maxBytes = 64 * 1024 * 1024 } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          req.destroy(new FetchError(`${url.href}: answer larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (err) => reject(new FetchError(`${url.href}: ${err.message}`)));
    };
    const options = { method: 'GET', timeout: timeoutMs };
    const req =
      url.protocol === 'https:'
        ? https.request(url, { ...options, ca: trustedCAs(ca.pem) }, onResponse)
        : http.request(url, options, onResponse);
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err instanceof FetchError ? err : new FetchError(explainNetworkError(err, url.origin, ca.file))),
    );
    req.end();
  });
}

/** The server's base URL as an http(s) URL with the given path (ws(s):// accepted, like run). */
export function serverUrl(server: string, pathname: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new FetchError(`--server ${server}: not a URL (expected https://ballast.example.com)`);
  }
  const scheme = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' }[url.protocol];
  if (!scheme) throw new FetchError(`--server ${server}: use an https:// (or http:// for local testing) URL`);
  url.protocol = scheme;
  url.pathname = pathname;
  url.search = '';
  url.hash = '';
  return url;
}
