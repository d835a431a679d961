import { createHash } from 'node:crypto';

/**
 * Layer chain IDs from an image's diffIDs (bottom first), as moby `layer.CreateChainID`:
 * chainID(L0) = diffID(L0), chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
 * The same diffID on another parent is another layer on disk, so sharing is per chainID.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let previous: string | null = null;
  for (const diffId of diffIds) {
    const next: string =
      previous === null ? diffId : `sha256:${createHash('sha256').update(`${previous} ${diffId}`).digest('hex')}`;
    out.push(next);
    previous = next;
  }
  return out;
}
