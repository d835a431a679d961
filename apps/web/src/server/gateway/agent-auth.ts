import { createHash, timingSafeEqual } from 'node:crypto';

export interface AgentPrincipal {
  orgId: string;
  /** Set for an enrolled agent: its credential's id and the host it speaks for. */
  agentId?: string;
  hostId?: string;
}

/** Decides whether a presented agent credential is valid and for which organization. */
export type AgentAuthenticator = (token: string) => Promise<AgentPrincipal | null>;

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * A single shared development token. Only its hash is kept in memory, and comparison is
 * constant-time. With no token configured every agent is refused.
 */
export function sharedTokenAuthenticator(token: string | undefined, orgId: string): AgentAuthenticator {
  const expected = token ? sha256(token) : null;
  return async (presented) => {
    if (!expected || presented.length === 0) return null;
    return timingSafeEqual(sha256(presented), expected) ? { orgId } : null;
  };
}

/**
 * Enrolled credentials (`bla_…`) first; anything else may be the shared development token,
 * kept for `npm start` and the end-to-end tests.
 */
export function combinedAuthenticator(
  credential: AgentAuthenticator,
  developmentToken: AgentAuthenticator,
): AgentAuthenticator {
  return (presented) => (presented.startsWith('bla_') ? credential(presented) : developmentToken(presented));
}

/** Extracts the bearer token from an Authorization header; null when absent or malformed. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+([\x21-\x7e]{1,512})$/.exec(header.trim());
  return match?.[1] ?? null;
}
