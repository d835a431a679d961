import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers.js';
import { createLogger, silentLogger } from '../log.js';
import { STATE_FILE, StateStore } from './store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function stateDir() {
  const dir = await tempDir('state');
  dirs.push(dir);
  return path.join(dir, 'nested', 'state');
}

describe('StateStore', () => {
  it('records last use: now for running containers, first sighting for stopped ones, across restarts', async () => {
    const dir = await stateDir();
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-01T01:00:00Z');
    const present = new Set(['img-run', 'img-stopped', 'img-gone']);

    const first = await StateStore.open(dir, silentLogger);
    first.recordImageUse(
      [
        { imageId: 'img-run', running: true },
        { imageId: 'img-stopped', running: false },
        { imageId: 'img-gone', running: false },
      ],
      present,
      t1,
    );
    await first.flush();

    const second = await StateStore.open(dir, silentLogger);
    second.recordImageUse(
      [
        { imageId: 'img-run', running: true },
        { imageId: 'img-stopped', running: false },
      ],
      new Set(['img-run', 'img-stopped']),
      t2,
    );
    expect(second.state.imageLastUsed).toEqual({ 'img-run': t2.toISOString(), 'img-stopped': t1.toISOString() });
  });

  it('writes the file atomically with mode 0600 in a 0700 directory, leaving no temp file', async () => {
    const dir = await stateDir();
    const store = await StateStore.open(dir, silentLogger);
    const id = store.fallbackMachineId();
    await store.flush();
    expect((await readdir(dir)).sort()).toEqual([STATE_FILE]);
    expect((await stat(path.join(dir, STATE_FILE))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8'))).toMatchObject({ version: 1, machineId: id });
    expect((await StateStore.open(dir, silentLogger)).fallbackMachineId()).toBe(id);
  });

  it('starts fresh from a corrupt file and says so', async () => {
    const dir = await stateDir();
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, STATE_FILE), '{"version": 7');
    const lines: string[] = [];
    const store = await StateStore.open(
      dir,
      createLogger('warn', (l) => lines.push(l)),
    );
    expect(store.state.imageLastUsed).toEqual({});
    expect(lines.join('')).toContain('starting fresh');
  });

  it('keeps working when the state dir cannot be written', async () => {
    const base = await stateDir();
    await mkdir(base, { recursive: true });
    // A path below a regular file cannot be created by anyone, root included.
    await writeFile(path.join(base, 'file'), '');
    const lines: string[] = [];
    const store = await StateStore.open(
      path.join(base, 'file', 'state'),
      createLogger('warn', (l) => lines.push(l)),
    );
    store.fallbackMachineId();
    await expect(store.flush()).resolves.toBeUndefined();
    expect(lines.join('')).toContain('cannot write the state dir');
  });
});
