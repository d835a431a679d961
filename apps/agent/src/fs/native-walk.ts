import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The compiled walker (native/walk.c) the bundler embeds: base64 of the shared object, and the
 * platform and architecture it was built for. Absent when running the TypeScript sources.
 */
declare const __BALLAST_NATIVE_WALK__: { platform: string; arch: string; base64: string } | null | undefined;

export type NativeTreeResult =
  | { apparentBytes: number; allocatedBytes: number; entries: number }
  | { error: string; code: string };

/** native/walk.c's exports, each running on libuv's thread pool and then calling back. */
export interface NativeWalk {
  /** Walks `roots` in order. */
  walk(
    roots: string[],
    oneFileSystem: boolean,
    exclude: string[],
    abort: Int32Array | null,
    callback: (aborted: boolean, results: NativeTreeResult[] | null) => void,
  ): void;
  /** Reads `dir/<name>` for each relative name, as UTF-8; a missing file is null, any other error fails the call. */
  readFiles(
    dir: string,
    names: string[],
    callback: (error: { error: string; code: string } | null, contents: (string | null)[] | null) => void,
  ): void;
}

export type NativeWalkStatus = { loaded: true; from: string } | { loaded: false; reason: string };

let loaded: { addon: NativeWalk | null; status: NativeWalkStatus } | null = null;
let allowed = true;
let stateDir: string | null = null;

/**
 * Where the bundle's walker is written to be loaded, before the temporary directory: the agent's
 * state directory (the unit's StateDirectory), since /tmp is often mounted noexec. Set before
 * the first walk.
 */
export function nativeWalkDir(dir: string | null): void {
  stateDir = dir;
}

/** Where a checkout's build (scripts/build-native.mjs) puts the walker. */
export function builtAddonPath(): string {
  return fileURLToPath(new URL('../../build/ballast-walk.node', import.meta.url));
}

function open(file: string): NativeWalk {
  const module = { exports: {} as Partial<NativeWalk> };
  process.dlopen(module, file, os.constants.dlopen.RTLD_NOW);
  if (typeof module.exports.walk !== 'function' || typeof module.exports.readFiles !== 'function') {
    throw new Error(`${file} has no walk() or readFiles()`);
  }
  return module.exports as NativeWalk;
}

/**
 * The bundle carries the walker inside itself, so a host still receives one file (checked by
 * its sha256 as before). Loading needs a file: it is written into a fresh 0700 directory,
 * opened, and removed at once; the mapping stays.
 */
function openEmbedded(embedded: { platform: string; arch: string; base64: string }): NativeWalk {
  if (embedded.platform !== process.platform || embedded.arch !== process.arch) {
    throw new Error(`built for ${embedded.platform}-${embedded.arch}, this is ${process.platform}-${process.arch}`);
  }
  const bytes = Buffer.from(embedded.base64, 'base64');
  const places = [stateDir, os.tmpdir()].filter((d): d is string => d !== null);
  const failures: string[] = [];
  for (const place of places) {
    let dir: string | null = null;
    try {
      dir = fs.mkdtempSync(path.join(place, '.ballast-walk-'));
      const file = path.join(dir, 'walk.node');
      fs.writeFileSync(file, bytes, { mode: 0o500, flag: 'wx' });
      return open(file);
    } catch (err) {
      failures.push(`${place}: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(failures.join('; '));
}

function load(): { addon: NativeWalk | null; status: NativeWalkStatus } {
  try {
    if (typeof __BALLAST_NATIVE_WALK__ !== 'undefined') {
      if (!__BALLAST_NATIVE_WALK__) throw new Error('this bundle was built without it');
      return { addon: openEmbedded(__BALLAST_NATIVE_WALK__), status: { loaded: true, from: 'bundle' } };
    }
    const file = builtAddonPath();
    if (!fs.existsSync(file)) throw new Error(`${file} is not built (npm run -w @ballast/agent build:native)`);
    return { addon: open(file), status: { loaded: true, from: file } };
  } catch (err) {
    return { addon: null, status: { loaded: false, reason: (err as Error).message } };
  }
}

/** The native walker, loaded on first use; null where it cannot load (walks then run in JavaScript). */
export function nativeWalk(): NativeWalk | null {
  if (!allowed) return null;
  loaded ??= load();
  return loaded.addon;
}

/** Whether walks use the native walker, and why not when they do not. */
export function nativeWalkStatus(): NativeWalkStatus {
  if (!allowed) return { loaded: false, reason: 'turned off' };
  loaded ??= load();
  return loaded.status;
}

/** The walker in use as `run`'s start-up line names it: `native`, or `javascript (<why>)`. */
export function walkerName(): string {
  const status = nativeWalkStatus();
  return status.loaded ? 'native' : `javascript (${status.reason})`;
}

/** Turns the native walker off (or back on): the JavaScript walk is the reference it is tested against. */
export function allowNativeWalk(on: boolean): void {
  allowed = on;
}

/**
 * Reads many small files under `dir` with the native walker, in `parts` calls side by side on the
 * thread pool; null when the walker is not loaded. A missing file reads as null.
 */
export function nativeReadFiles(dir: string, names: string[], parts = 2): Promise<(string | null)[]> | null {
  const addon = nativeWalk();
  if (!addon) return null;
  const size = Math.max(1, Math.ceil(names.length / Math.max(1, parts)));
  const chunks: string[][] = [];
  for (let i = 0; i < names.length; i += size) chunks.push(names.slice(i, i + size));
  return Promise.all(
    chunks.map(
      (chunk) =>
        new Promise<(string | null)[]>((resolve, reject) => {
          addon.readFiles(dir, chunk, (error, contents) => {
            if (contents) return resolve(contents);
            const err = new Error(error?.error ?? 'read failed') as NodeJS.ErrnoException;
            if (error?.code) err.code = error.code;
            reject(err);
          });
        }),
    ),
  ).then((results) => results.flat());
}
