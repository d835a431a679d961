import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.js';
import { checkServiceNode, InstallError } from './install.js';

let dir: string;

/** A stand-in for a node binary: a shell script with the given body. */
async function fakeNode(name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

beforeAll(async () => {
  dir = await tempDir('service-node');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('checkServiceNode', () => {
  it('accepts the node running these tests with the unit flags', async () => {
    await expect(checkServiceNode(process.execPath)).resolves.toBeUndefined();
  });

  it('refuses a node that rejects a flag, naming the flags and what node said', async () => {
    const node = await fakeNode('old-node', 'echo "$0: bad option: $1" >&2; exit 9');
    const err = await checkServiceNode(node).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstallError);
    expect((err as Error).message).toMatch(
      /does not start with the unit's flags \(--no-turbofan --max-semi-space-size=1 --expose-gc\)/,
    );
    expect((err as Error).message).toContain('bad option: --no-turbofan');
  });

  it('refuses a node that starts but warns about a flag', async () => {
    const node = await fakeNode(
      'warning-node',
      'echo "Warning: disabling flag --no-turbofan due to conflicting flags" >&2',
    );
    await expect(checkServiceNode(node)).rejects.toThrow(/warns about the unit's flags.*disabling flag/);
  });

  it('refuses a path that is not there', async () => {
    await expect(checkServiceNode(path.join(dir, 'missing-node'))).rejects.toThrow(/does not start with/);
  });
});
