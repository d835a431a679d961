import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigChange, Inventory, PlanSkip } from '@ballast/shared';
import { hasLogRotation } from '../collectors/logs.js';
import { JobRefusal, type PlanDraft, type SpecOf } from './types.js';

type JsonObject = Record<string, unknown>;

/** Log drivers that take `max-size`/`max-file`; any other driver would make dockerd refuse to start. */
const ROTATING_DRIVERS = new Set(['json-file', 'local']);

/** The file's text, or null when it does not exist. */
export async function readDaemonConfig(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new JobRefusal('invalid', `cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Parses daemon.json; anything but a JSON object is refused, so a broken file is never overwritten. */
export function parseDaemonConfig(file: string, text: string | null): JsonObject {
  if (text === null || text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new JobRefusal(
      'invalid',
      `${file} is not valid JSON (${(err as Error).message}); fix it by hand first, nothing was changed`,
    );
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new JobRefusal('invalid', `${file} does not hold a JSON object; fix it by hand first, nothing was changed`);
  }
  return value as JsonObject;
}

function objectAt(config: JsonObject, key: string, file: string): JsonObject {
  const v = config[key];
  if (v === undefined) return {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new JobRefusal('invalid', `${file}: "${key}" is not an object; fix it by hand first, nothing was changed`);
  }
  return v as JsonObject;
}

export function backupPathFor(file: string, jobId: string): string {
  return `${file}.ballast-${jobId.replace(/[^A-Za-z0-9._-]/g, '_')}.bak`;
}

function render(config: JsonObject): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

function change(file: string, jobId: string, before: string | null, after: JsonObject): ConfigChange {
  const text = render(after);
  JSON.parse(text); // what is written is always valid JSON
  return { path: file, before, after: text, backupPath: backupPathFor(file, jobId), restartRequired: true };
}

const RESTART_NOTE =
  'The change takes effect only after the Docker daemon restarts; the agent never restarts it. Restart it yourself when convenient (running containers stop unless live-restore is on).';

export async function planConfigureRotation(
  file: string,
  jobId: string,
  inv: Inventory,
  spec: SpecOf<'logs.configureRotation'>,
): Promise<PlanDraft> {
  const before = await readDaemonConfig(file);
  const config = parseDaemonConfig(file, before);
  const driver = config['log-driver'] ?? 'json-file';
  if (typeof driver !== 'string' || !ROTATING_DRIVERS.has(driver)) {
    throw new JobRefusal(
      'invalid',
      `${file} sets log-driver ${JSON.stringify(driver)}, which takes no max-size/max-file; nothing was changed`,
    );
  }
  const opts = objectAt(config, 'log-opts', file);
  const after = {
    ...config,
    'log-opts': { ...opts, 'max-size': spec.params.maxSize, 'max-file': String(spec.params.maxFile) },
  };
  const unbounded = inv.containers.filter(
    (c) => c.logDriver === 'json-file' && !hasLogRotation(c.logDriver, c.logOptions),
  );
  const skipped: PlanSkip[] = unbounded.map((c) => ({
    type: 'container',
    id: c.id,
    name: c.name,
    reason: `keeps an unbounded json-file log (${c.logBytes} bytes now) until recreated: log options are fixed when a container is created`,
  }));
  const notes = [
    RESTART_NOTE,
    `New containers get json-file logs of at most ${spec.params.maxFile} × ${spec.params.maxSize}.`,
    unbounded.length > 0
      ? `${unbounded.length} existing containers keep unbounded logs until recreated: ${unbounded
          .slice(0, 20)
          .map((c) => c.name)
          .join(', ')}${unbounded.length > 20 ? ', …' : ''}.`
      : 'No existing container has an unbounded json-file log.',
  ];
  return {
    items: [
      {
        type: 'daemonConfig',
        id: file,
        name: path.basename(file),
        bytes: 0,
        note: 'sets log-opts max-size and max-file',
      },
    ],
    skipped,
    notes,
    configChange: change(file, jobId, before, after),
  };
}

export async function planConfigureGC(
  file: string,
  jobId: string,
  spec: SpecOf<'buildCache.configureGC'>,
): Promise<PlanDraft> {
  const before = await readDaemonConfig(file);
  const config = parseDaemonConfig(file, before);
  const builder = objectAt(config, 'builder', file);
  const gc = objectAt(builder, 'gc', file);
  const after = {
    ...config,
    builder: { ...builder, gc: { ...gc, enabled: true, defaultKeepStorage: spec.params.keepStorage } },
  };
  return {
    items: [
      {
        type: 'daemonConfig',
        id: file,
        name: path.basename(file),
        bytes: 0,
        note: `sets builder.gc.enabled true and defaultKeepStorage ${spec.params.keepStorage}`,
      },
    ],
    skipped: [],
    notes: [
      RESTART_NOTE,
      'Engines before 29.0 leave BuildKit garbage collection off unless builder.gc.enabled is set; it then keeps the build cache under defaultKeepStorage.',
    ],
    configChange: change(file, jobId, before, after),
  };
}

/** Writes a file crash-safely: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeFileAtomic(file: string, text: string | readonly string[], mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    // Parts are written one after another, never joined: a large text is not copied once more.
    for (const part of typeof text === 'string' ? [text] : text) await fh.writeFile(part);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Applies a planned daemon.json change: only if the file is still exactly what the plan saw
 * and what it would write is valid JSON; writes the backup first, then replaces the file.
 */
export async function applyConfigChange(c: ConfigChange): Promise<void> {
  const current = await readDaemonConfig(c.path);
  if (current !== c.before) {
    throw new JobRefusal('plan_mismatch', `${c.path} changed since the plan was made; nothing was written`);
  }
  parseDaemonConfig(c.path, c.after);
  const mode = current === null ? 0o644 : (await stat(c.path)).mode & 0o777;
  if (current !== null) await writeFileAtomic(c.backupPath, current, mode);
  await writeFileAtomic(c.path, c.after, mode);
}
