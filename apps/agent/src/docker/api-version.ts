/** The newest Engine API version whose response shapes this agent understands. */
export const AGENT_MAX_API_VERSION = '1.47';

function parts(version: string): [number, number] {
  const m = /^(\d+)\.(\d+)$/.exec(version.trim());
  if (!m) throw new Error(`not an API version: ${JSON.stringify(version)}`);
  return [Number(m[1]), Number(m[2])];
}

export function compareApiVersions(a: string, b: string): number {
  const [amaj, amin] = parts(a);
  const [bmaj, bmin] = parts(b);
  return amaj !== bmaj ? amaj - bmaj : amin - bmin;
}

/**
 * min(agent's newest, engine's newest), raised to the engine's minimum when the engine no
 * longer serves that (Docker 29.0-29.2 refuse anything below 1.44; pinning an old version breaks).
 */
export function negotiateApiVersion(engineApi: string, engineMinApi: string | null, agentMax = AGENT_MAX_API_VERSION) {
  let chosen = compareApiVersions(engineApi, agentMax) < 0 ? engineApi : agentMax;
  if (engineMinApi && compareApiVersions(chosen, engineMinApi) < 0) chosen = engineMinApi;
  return chosen;
}
