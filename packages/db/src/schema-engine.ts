import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';

// The subset of @prisma/schema-engine-wasm's API this package uses (see its schema_engine.d.ts).

interface SchemaFile {
  path: string;
  content: string;
}

export type DiffTarget = { tag: 'empty' } | { tag: 'schemaDatamodel'; files: SchemaFile[] };

export interface SchemaFilter {
  externalTables: string[];
  externalEnums: string[];
}

export interface MigrationList {
  baseDir: string;
  lockfile: { path: string; content: string | null };
  shadowDbInitScript: string;
  migrationDirectories: {
    path: string;
    migrationFile: { path: string; content: { tag: 'ok'; value: string } | { tag: 'error'; value: string } };
  }[];
}

export interface WasmSchemaEngine {
  diff(params: {
    from: DiffTarget;
    to: DiffTarget;
    script: boolean;
    exitCode: boolean | null;
    filters: SchemaFilter;
  }): Promise<{ exitCode: number; stdout: string | null }>;
  applyMigrations(input: {
    migrationsList: MigrationList;
    filters: SchemaFilter;
  }): Promise<{ appliedMigrationNames: string[] }>;
  diagnoseMigrationHistory(input: {
    migrationsList: MigrationList;
    optInToShadowDatabase: boolean;
    filters: SchemaFilter;
  }): Promise<{
    editedMigrationNames: string[];
    failedMigrationNames: string[];
    hasMigrationsTable: boolean;
    history: unknown;
  }>;
  free(): void;
}

type WasmExports = Record<string, unknown>;

interface SchemaEngineBindings {
  __wbg_set_wasm(exports: WasmExports): void;
  SchemaEngine: {
    new: (
      options: { datamodels: [string, string][] },
      log: (message: string) => void,
      adapter: object,
    ) => Promise<WasmSchemaEngine>;
  };
}

// The WebAssembly global is untyped here: the project's lib settings include neither DOM nor its types.
const { WebAssembly: wasm } = globalThis as unknown as {
  WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: WasmExports } }> };
};

let bindings: Promise<SchemaEngineBindings> | undefined;

// The package's entry imports the .wasm as an ES module, which Node cannot load, and its
// `exports` hide the files, so the bindings are wired up by hand from their paths.
function loadBindings(): Promise<SchemaEngineBindings> {
  bindings ??= (async () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('@prisma/schema-engine-wasm'));
    const bg = (await import(pathToFileURL(join(dir, 'schema_engine_bg.js')).href)) as SchemaEngineBindings;
    const bytes = await readFile(join(dir, 'schema_engine_bg.wasm'));
    const { instance } = await wasm.instantiate(bytes, { './schema_engine_bg.js': bg });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bg;
  })();
  return bindings;
}

/**
 * Prisma's schema engine (the code behind `prisma migrate`), compiled to WebAssembly, working
 * on an in-process PGlite. Through `@prisma/adapter-pg` the engine fails to read a live
 * database's catalog, so PGlite's own adapter it is. Call `free()` when done.
 */
export async function openSchemaEngine(datamodel: string, db: PGlite): Promise<WasmSchemaEngine> {
  const bg = await loadBindings();
  return bg.SchemaEngine.new(
    { datamodels: [['schema.prisma', datamodel]] },
    () => {},
    bindMigrationAwareSqlAdapterFactory(new PrismaPGlite(db)),
  );
}
