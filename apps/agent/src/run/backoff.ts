export interface BackoffPolicy {
  minMs: number;
  maxMs: number;
}

export const RECONNECT_BACKOFF: BackoffPolicy = { minMs: 1_000, maxMs: 60_000 };

/**
 * Exponential delay with "equal jitter" (half fixed, half random): hundreds of agents cut
 * off by one server restart do not all come back in the same second.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.minMs * 2 ** Math.max(0, attempt));
  return Math.round(base / 2 + random() * (base / 2));
}
