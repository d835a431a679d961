import { describe, expect, it } from 'vitest';
import { sh } from '../../test/helpers.js';
import { chainIds } from './chain.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('chainIds', () => {
  it('uses the diffID itself for the bottom layer', () => {
    expect(chainIds([d('a')])).toEqual([d('a')]);
    expect(chainIds([])).toEqual([]);
  });

  it('hashes "<parent chainID> <diffID>" for each layer above, like sha256sum does', async () => {
    const diffs = [d('a'), d('b'), d('c')];
    const oracle = await sh('sh', [
      '-c',
      'c=$1; echo "$c"; for x in $2 $3; do c="sha256:$(printf "%s %s" "$c" "$x" | sha256sum | cut -d" " -f1)"; echo "$c"; done',
      'sh',
      ...diffs,
    ]);
    expect(chainIds(diffs)).toEqual(oracle.trim().split('\n'));
  });

  it('gives the same diffID on different parents different chainIDs', () => {
    const [, onA] = chainIds([d('a'), d('c')]);
    const [, onB] = chainIds([d('b'), d('c')]);
    expect(onA).not.toBe(onB);
  });
});
