import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file through a temporary sibling and a rename, so readers (systemd, a running
 * agent, the next upgrade) see the old content or the new, never a truncated file.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode: number): Promise<void> {
  await ensureDir(path.dirname(target), 0o755, false);
  const tmp = `${target}.${process.pid}.tmp`;
  const file = await open(tmp, 'w', mode);
  try {
    await file.writeFile(data);
    // open() applies the umask; the mode is part of the contract (0600 config, 0755 bundle).
    await file.chmod(mode);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Creates a directory and its missing parents: the parents 0755, the directory itself `mode`
 * (applied even when it exists, for directories the agent owns). Existing parents are left as
 * they are, and umask never narrows what is created.
 */
export async function ensureDir(dir: string, mode: number, own = true): Promise<void> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      await stat(d);
      break;
    } catch {
      missing.unshift(d);
      if (d === path.dirname(d)) break;
    }
  }
  for (const d of missing) {
    await mkdir(d).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await chmod(d, d === path.resolve(dir) ? mode : 0o755);
  }
  if (own) await chmod(dir, mode);
}
