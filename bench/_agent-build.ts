// Builds the agent as the benches measure it: the native walker (loaded by in-process scans
// from the checkout's build directory, embedded by the bundler) and the one-file bundle.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '..');

function runScript(script: string, what: string): void {
  const r = spawnSync(process.execPath, [script], { cwd: repo, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what}:\n${r.stderr}`);
}

/**
 * The native walker, built before anything is timed. A fresh clone has none, and without it
 * both the in-process scans and the bundle would silently measure the JavaScript walk.
 */
export function buildNativeWalker(): void {
  runScript(
    'apps/agent/scripts/build-native.mjs',
    'the native walker did not build, so the bench would time the JavaScript walk',
  );
}

/** The bundle `install` puts on a host, with the walker inside; returns its path in the checkout. */
export function buildAgentBundle(): string {
  buildNativeWalker();
  runScript('apps/agent/scripts/bundle.mjs', 'bundle failed');
  return path.join(repo, 'apps/agent/dist/ballast-agent.mjs');
}
