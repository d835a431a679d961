import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { AGENT_ENROLL_PATH, type EnrollRequest, type EnrollResponse, ZEnrollResponse } from '@ballast/shared';

/** Where `enroll` keeps the agent credential; `run` reads it when no token is given. */
export const CREDENTIAL_FILE = 'credential';

export class EnrollError extends Error {
  override readonly name = 'EnrollError';
}

/**
 * Trust for the server's certificate: the system roots plus, when given, a PEM bundle.
 * Verification itself is never switched off; there is deliberately no option for it.
 */
export function trustedCAs(extraCa: string | null): string[] | undefined {
  return extraCa ? [...rootCertificates, extraCa] : undefined;
}

/** The enrollment endpoint for a server base URL (ws(s):// is accepted too, like `run`). */
export function enrollUrl(server: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new EnrollError(`--server ${server}: not a URL (expected https://ballast.example.com)`);
  }
  const scheme = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' }[url.protocol];
  if (!scheme) throw new EnrollError(`--server ${server}: use an https:// (or http:// for local testing) URL`);
  url.protocol = scheme;
  url.pathname = AGENT_ENROLL_PATH;
  url.search = '';
  url.hash = '';
  return url;
}

/** POSTs the enrollment token once and returns the credential the server issued. */
export function requestEnrollment(
  server: string,
  body: EnrollRequest,
  ca: string | null,
  timeoutMs = 15_000,
): Promise<EnrollResponse> {
  const url = enrollUrl(server);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const options = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      timeout: timeoutMs,
    };
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {}
        if (res.statusCode !== 201) {
          const message =
            json && typeof json === 'object' && 'message' in json ? String(json.message) : text.slice(0, 200);
          reject(new EnrollError(`server refused enrollment (HTTP ${res.statusCode}): ${message}`));
          return;
        }
        const parsed = ZEnrollResponse.safeParse(json);
        if (!parsed.success) reject(new EnrollError('server sent an enrollment answer this agent does not understand'));
        else resolve(parsed.data);
      });
    };
    const req =
      url.protocol === 'https:'
        ? https.request(url, { ...options, ca: trustedCAs(ca) }, onResponse)
        : http.request(url, options, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new EnrollError(`cannot reach ${url.origin}: ${err.message}`)));
    req.end(payload);
  });
}

/**
 * Writes the credential readable by its owner only (0600), through a temporary file and a
 * rename so a crash never leaves a truncated credential behind.
 */
export async function storeCredential(stateDir: string, credential: string): Promise<string> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const target = path.join(stateDir, CREDENTIAL_FILE);
  const tmp = `${target}.${process.pid}.tmp`;
  const file = await open(tmp, 'w', 0o600);
  try {
    await file.writeFile(`${credential}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return target;
}

/** The stored credential, or null when this agent has not enrolled. */
export async function readStoredCredential(stateDir: string): Promise<string | null> {
  try {
    const value = (await readFile(path.join(stateDir, CREDENTIAL_FILE), 'utf8')).trim();
    return value.length > 0 ? value : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
