import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { LogFileFacts } from './context.js';

/**
 * Whether a file in `containers/<id>/` belongs to the json-file driver: the live
 * `<id>-json.log`, rotated `.N`, and compressed `.N.gz` (moby loggerutils/logfile.go).
 */
export function isJsonFileLog(containerId: string, name: string): boolean {
  const live = `${containerId}-json.log`;
  return name === live || (name.startsWith(`${live}.`) && /^\d+(\.gz)?$/.test(name.slice(live.length + 1)));
}

/** Same scheme for the local driver, under `containers/<id>/local-logs/`. */
export function isLocalDriverLog(name: string): boolean {
  return name === 'container.log' || /^container\.log\.\d+(\.gz)?$/.test(name);
}

async function listNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/**
 * Log files of one container, by naming rule rather than by the inspect `LogPath`: that is
 * empty for the local driver and for containers that never started, and never names the
 * rotated files. A driver that keeps nothing on disk (journald, syslog, ...) yields none.
 */
export async function findLogFiles(containerDir: string, containerId: string): Promise<LogFileFacts[]> {
  const localDir = path.join(containerDir, 'local-logs');
  const candidates = [
    ...(await listNames(containerDir))
      .filter((n) => isJsonFileLog(containerId, n))
      .map((n) => path.join(containerDir, n)),
    ...(await listNames(localDir)).filter(isLocalDriverLog).map((n) => path.join(localDir, n)),
  ];
  const files: LogFileFacts[] = [];
  for (const file of candidates.sort()) {
    try {
      const st = await lstat(file);
      if (!st.isFile()) continue;
      files.push({ path: file, bytes: st.size, allocatedBytes: st.blocks * 512, compressed: file.endsWith('.gz') });
    } catch (err) {
      // Rotation renames files under our feet.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return files;
}

/** json-file only rotates when max-size is set; the local driver always rotates (20 MB x 5 by default). */
export function hasLogRotation(driver: string, options: Record<string, string>): boolean {
  if (driver === 'local') return true;
  if (driver === 'json-file') {
    const maxSize = options['max-size'];
    return maxSize !== undefined && maxSize !== '' && maxSize !== '-1';
  }
  return false;
}
