import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EnrollRequest, type EnrollResponse, ZEnrollRequest } from '@ballast/shared';
import type { Logger } from '../log';
import { EnrollmentRefused } from '../services/enrollment';

export type EnrollHandler = (request: EnrollRequest) => Promise<EnrollResponse>;

const MAX_BODY_BYTES = 4096;

const REFUSAL_STATUS: Record<EnrollmentRefused['reason'], number> = {
  invalid_token: 401,
  token_expired: 410,
  token_revoked: 410,
  token_used_up: 410,
};

function reply(res: ServerResponse, status: number, body: Record<string, unknown>) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** POST /agent/v1/enroll: {token, machineId, hostname} → {agentId, hostId, credential, cloneOf}. */
export function handleEnrollRequest(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { enroll: EnrollHandler; log: Logger; limited: () => boolean },
): void {
  const remote = req.socket.remoteAddress ?? 'unknown';
  const { log } = deps;
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    reply(res, 405, { error: 'method_not_allowed', message: 'use POST' });
    return;
  }
  // Counted before the token is looked at, so guessing tokens is as slow as using them.
  if (deps.limited()) {
    log.warn('enrollment rate limited', { remote });
    res.setHeader('retry-after', '60');
    reply(res, 429, { error: 'rate_limited', message: 'too many enrollment attempts, retry later' });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(chunk);
  });
  req.on('end', () => {
    if (tooLarge) {
      log.warn('enrollment body too large', { remote, size });
      return reply(res, 413, { error: 'too_large', message: `body exceeds ${MAX_BODY_BYTES} bytes` });
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      log.warn('enrollment body is not JSON', { remote });
      return reply(res, 400, { error: 'bad_request', message: 'body is not valid JSON' });
    }
    const parsed = ZEnrollRequest.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      log.warn('enrollment body is invalid', { remote, path: issue?.path.join('.') });
      return reply(res, 400, {
        error: 'bad_request',
        message: `invalid field ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      });
    }
    deps.enroll(parsed.data).then(
      (result) => {
        log.info('agent enrolled', {
          remote,
          agentId: result.agentId,
          hostId: result.hostId,
          cloneOf: result.cloneOf,
        });
        reply(res, 201, result);
      },
      (error: unknown) => {
        if (error instanceof EnrollmentRefused) {
          log.warn('enrollment refused', { remote, reason: error.reason });
          return reply(res, REFUSAL_STATUS[error.reason], { error: error.reason, message: error.message });
        }
        log.error('enrollment failed', { remote, error: String(error) });
        reply(res, 500, { error: 'server_error', message: 'enrollment failed' });
      },
    );
  });
}
