import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh, tempDir } from '../../test/helpers.js';
import { findLogFiles, hasLogRotation, isJsonFileLog, isLocalDriverLog } from './logs.js';

const ID = 'bccc14b6a1f0e2d3c4b5a6978877665544332211ffeeddccbbaa998877665544';

describe('log file naming', () => {
  it('recognises json-file live, rotated and compressed files of the container only', () => {
    for (const name of [`${ID}-json.log`, `${ID}-json.log.1`, `${ID}-json.log.12`, `${ID}-json.log.3.gz`]) {
      expect(isJsonFileLog(ID, name), name).toBe(true);
    }
    for (const name of [
      `${ID}-json.log.tmp`,
      `${ID}-json.log.1.gz.tmp`,
      `${ID}-json.log.`,
      'other-json.log',
      'config.v2.json',
      'hostconfig.json',
    ]) {
      expect(isJsonFileLog(ID, name), name).toBe(false);
    }
  });

  it('recognises the local driver files', () => {
    expect(['container.log', 'container.log.1', 'container.log.2.gz'].every(isLocalDriverLog)).toBe(true);
    expect(['container.log.gz', 'container.logs', 'x.log'].some(isLocalDriverLog)).toBe(false);
  });

  it('knows which drivers rotate', () => {
    expect(hasLogRotation('json-file', {})).toBe(false);
    expect(hasLogRotation('json-file', { 'max-size': '-1' })).toBe(false);
    expect(hasLogRotation('json-file', { 'max-size': '10m', 'max-file': '3' })).toBe(true);
    expect(hasLogRotation('local', {})).toBe(true);
    expect(hasLogRotation('journald', { 'max-size': '10m' })).toBe(false);
  });
});

describe('findLogFiles', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir('logs');
    await mkdir(path.join(dir, 'local-logs'));
    await writeFile(path.join(dir, `${ID}-json.log`), 'x'.repeat(5000));
    await writeFile(path.join(dir, `${ID}-json.log.1`), 'y'.repeat(1000));
    await writeFile(path.join(dir, `${ID}-json.log.2.gz`), 'z'.repeat(300));
    await writeFile(path.join(dir, 'config.v2.json'), '{}');
    await writeFile(path.join(dir, 'local-logs', 'container.log'), 'l'.repeat(700));
    await writeFile(path.join(dir, 'local-logs', 'container.log.1.gz'), 'g'.repeat(90));
    // A log truncated after rotation keeps growing at its old offset: sparse, NUL-prefixed.
    await writeFile(path.join(dir, 'local-logs', 'container.log.2'), '');
    await truncate(path.join(dir, 'local-logs', 'container.log.2'), 1_000_000);
  });

  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lists every driver file with stat size and allocated blocks', async () => {
    const files = await findLogFiles(dir, ID);
    const oracle = await sh('sh', [
      '-c',
      'cd "$1" && stat -c "%n %s %b %B" "$2"-json.log* local-logs/container.log* | sort',
      'sh',
      dir,
      ID,
    ]);
    const expected = oracle
      .trim()
      .split('\n')
      .map((line) => {
        const [name, bytes, blocks, unit] = line.split(' ');
        return {
          path: path.join(dir, name ?? ''),
          bytes: Number(bytes),
          allocatedBytes: Number(blocks) * Number(unit),
          compressed: (name ?? '').endsWith('.gz'),
        };
      });
    expect([...files].sort((a, b) => a.path.localeCompare(b.path))).toEqual(
      expected.sort((a, b) => a.path.localeCompare(b.path)),
    );
    const sparse = files.find((f) => f.path.endsWith('container.log.2'));
    expect(sparse?.bytes).toBe(1_000_000);
    expect(sparse?.allocatedBytes).toBe(0);
  });

  it('finds nothing for a driver that keeps no files, or a missing directory', async () => {
    expect(await findLogFiles(path.join(dir, 'nope'), ID)).toEqual([]);
  });
});
