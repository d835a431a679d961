import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { nativeReadFiles } from './native-walk.js';

/** Larger than any layerdb metadata file (an ID, a cache ID, a size): one read covers those. */
const FIRST_READ_BYTES = 4096;
const first = Buffer.allocUnsafe(FIRST_READ_BYTES);

/** What a read of something other than a regular file fails with, here and in native/walk.c's readFiles. */
export function notRegularFile(file: string): NodeJS.ErrnoException {
  const err = new Error(`EINVAL: not a regular file, read '${file}'`) as NodeJS.ErrnoException;
  err.code = 'EINVAL';
  return err;
}

/**
 * The text of a small file the engine wrote (layerdb entries, image configs and their metadata),
 * or null when it does not exist: the JavaScript counterpart of the native walker's `readFiles`.
 * Synchronous on purpose: the files are a few bytes to a few kB and thousands are read on a first
 * pass; a threadpool round trip per file cost more than the read (1.5 s for 2,185 layers). One
 * open, one read into a shared buffer, one close. Opened non-blocking and checked to be a regular
 * file, so a FIFO or device put in a file's place fails the read instead of blocking the thread
 * or reading without end.
 */
export function readSmallFile(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    if (!fstatSync(fd).isFile()) throw notRegularFile(file);
    const length = readSync(fd, first, 0, FIRST_READ_BYTES, 0);
    if (length === FIRST_READ_BYTES) return readFileSync(fd, 'utf8');
    return first.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * `readSmallFile` of each `dir/<name>`, in order: with the native walker on the thread pool (its
 * `readFiles`: the same contents and errors), else here, one after another.
 */
export async function readSmallFiles(dir: string, names: string[]): Promise<(string | null)[]> {
  if (names.length === 0) return [];
  return (await nativeReadFiles(dir, names)) ?? names.map((name) => readSmallFile(path.join(dir, name)));
}
