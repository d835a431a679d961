import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file through a temporary sibling and a rename, so readers (systemd, a running
 * agent, the next upgrade) see the old content or the new, never a truncated file.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode: number): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
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

export async function ensureDir(dir: string, mode: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  await chmod(dir, mode);
}
