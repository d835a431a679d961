#!/usr/bin/env node
// Compiles the native walker (native/walk.c) into build/ballast-walk.node with the system C
// compiler ($CC, else cc) against Node.js's own Node-API headers. Node-API is ABI-stable, so
// the result loads on any Node.js 20+ of the same platform and architecture. The bundler embeds
// it (scripts/bundle.mjs); the sources load it from build/. Up to date builds are skipped.
//
// --optional: without a compiler or the headers, warn and exit 0 (the agent then walks in
// JavaScript, same figures at more CPU; `ballast-agent doctor` says so). Tests build without it:
// they must run the native walker.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const agentDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(agentDir, 'native', 'walk.c');
const output = path.join(agentDir, 'build', 'ballast-walk.node');

const includeDirs = [
  process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
  path.join(path.dirname(process.execPath), '..', 'include', 'node'),
].filter(Boolean);
const optional = process.argv.includes('--optional');
function giveUp(message) {
  process.stderr.write(`build-native: ${message}${optional ? '; the agent will walk in JavaScript' : ''}\n`);
  rmSync(output, { force: true });
  process.exit(optional ? 0 : 1);
}

const include = includeDirs.find((dir) => existsSync(path.join(dir, 'node_api.h')));
if (!include) giveUp(`no node_api.h in ${includeDirs.join(' or ')} (Node.js headers are needed)`);

const fresh = (file) => existsSync(file) && statSync(file).mtimeMs >= statSync(source).mtimeMs;
if (fresh(output) && !process.argv.includes('--force')) {
  process.stdout.write(`${path.relative(process.cwd(), output)}: up to date\n`);
  process.exit(0);
}

mkdirSync(path.dirname(output), { recursive: true });
const partial = `${output}.${process.pid}.tmp`;
const cc = process.env.CC || 'cc';
const args = [
  ...['-std=gnu11', '-O2', '-g0', '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter'],
  ...['-fPIC', '-shared', '-fvisibility=hidden', '-fstack-protector-strong', '-D_FORTIFY_SOURCE=2'],
  ...['-Wl,-z,relro,-z,now', '-Wl,-z,noexecstack', '-s'],
  ...['-I', include, '-o', partial, source],
];
try {
  execFileSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  rmSync(partial, { force: true });
  giveUp(
    err.code === 'ENOENT' ? `no C compiler (${cc})` : `${cc} could not compile ${path.relative(agentDir, source)}`,
  );
}
renameSync(partial, output);
process.stdout.write(`${path.relative(process.cwd(), output)}: ${statSync(output).size} bytes\n`);
