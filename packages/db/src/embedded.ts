import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Log } from './migrate.js';

export interface EmbeddedPostgresOptions {
  /** Where the database lives; created (mode 0700) if missing. */
  dataDir: string;
  log?: Log;
}

export interface EmbeddedPostgres {
  /**
   * A postgresql:// URL for `pg`, `@prisma/adapter-pg` and `migrate`. Every connection shares
   * one PostgreSQL backend: give each pool `max: 1` (see createPrismaClient), since isolation
   * between concurrent transactions on different connections is not established.
   */
  connectionString: string;
  /** Closes connections and the database; the data stays in dataDir. Safe to call twice. */
  stop(): Promise<void>;
}

// Connections beyond this are dropped, not queued: it must exceed the sum of every pool
// (Prisma's, migrate's single client, ad-hoc tools) that connects at once.
const MAX_CONNECTIONS = 20;

const LOCK_FILE = 'ballast.lock';

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// PGlite takes no lock on its directory, and two instances writing one directory corrupt it.
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && owner > 0 && processIsAlive(owner)) {
      const who = owner === process.pid ? 'this process' : `process ${owner}`;
      throw new Error(`The embedded database in ${dataDir} is already open by ${who} (${path}).`);
    }
    await rm(path, { force: true });
  }
  throw new Error(`Could not lock the embedded database in ${dataDir} (${path}).`);
}

/**
 * Runs PostgreSQL in-process (PGlite, persisted to dataDir) and serves it on a free loopback
 * port, so the same `pg`-based code paths work with or without a PostgreSQL server.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir);
  const log = options.log ?? (() => {});
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const unlock = await lockDataDir(dataDir);
  let cleanUp = unlock;
  try {
    const started = Date.now();
    const db = await PGlite.create({ dataDir });
    cleanUp = async () => {
      await db.close().catch(() => {});
      await unlock();
    };
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: MAX_CONNECTIONS });
    await server.start();
    const address = server.getServerConn();
    log(`Embedded PostgreSQL (${dataDir}) listening on ${address} after ${Date.now() - started} ms`);

    let stopping: Promise<void> | undefined;
    return {
      connectionString: `postgresql://postgres@${address}/postgres`,
      stop() {
        stopping ??= (async () => {
          try {
            await server.stop();
            await db.close();
          } finally {
            await unlock();
          }
          log('Embedded PostgreSQL stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
