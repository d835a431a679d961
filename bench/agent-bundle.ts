// `npm run bench -- agent-bundle [--runs N]`
//
// The bundled agent (apps/agent/dist/ballast-agent.mjs, copied alone into an empty temporary
// directory) against the tsx launcher (apps/agent/bin/ballast-agent.mjs) on the test engine
// given by BALLAST_TEST_DOCKER_HOST: the bundle's size (raw and gzip -9), and for
// `scan --json` and `version` the peak RSS (GNU time's %M, the kernel's maxrss of the process)
// and wall time, median of --runs each, the two launchers alternating.
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { AGENT_BIN } from '../apps/agent/test/helpers.js';
import { buildAgentBundle } from './_agent-build.js';

const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(flags.runs);
const host = process.env.BALLAST_TEST_DOCKER_HOST;
if (!host || !Number.isInteger(runs) || runs < 1) {
  console.error('bench agent-bundle: needs BALLAST_TEST_DOCKER_HOST (scripts/services.sh start) and --runs ≥ 1');
  process.exit(2);
}
if (spawnSync('/usr/bin/time', ['-f', '%M', 'true']).status !== 0) {
  console.error('bench agent-bundle: GNU time (/usr/bin/time, Debian package `time`) is needed to read peak RSS');
  process.exit(2);
}
const root = path.resolve(import.meta.dirname, '..');
const bundleSource = buildAgentBundle();
const bytes = await readFile(bundleSource);
const dir = await mkdtemp(path.join(os.tmpdir(), 'ballast-bench-bundle-'));
const bundle = path.join(dir, 'ballast-agent.mjs');
await copyFile(bundleSource, bundle);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

function measure(entry: string, args: string[]): { rssKiB: number; ms: number } {
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'RSS_KIB=%M', process.execPath, entry, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    cwd: dir,
  });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`${entry} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const rss = /RSS_KIB=(\d+)/.exec(r.stderr)?.[1];
  if (!rss) throw new Error('no RSS figure from /usr/bin/time');
  return { rssKiB: Number(rss), ms };
}

const launchers = { bundle, tsx: AGENT_BIN };
const commands = {
  scan: (state: string) => ['scan', '--json', '--docker-host', host, '--state-dir', state],
  version: () => ['version'],
};
const results: Record<string, Record<string, { rssMiB: number; wallMs: number; samples: number }>> = {};
try {
  for (const [command, argsFor] of Object.entries(commands)) {
    const samples: Record<string, { rss: number[]; ms: number[] }> = {
      bundle: { rss: [], ms: [] },
      tsx: { rss: [], ms: [] },
    };
    // One untimed run of each first: page cache and the engine's own caches warm.
    for (const [name, entry] of Object.entries(launchers)) measure(entry, argsFor(path.join(dir, `warm-${name}`)));
    for (let i = 0; i < runs; i++) {
      for (const [name, entry] of Object.entries(launchers)) {
        const state = path.join(dir, `state-${name}-${i}`);
        await mkdir(state, { recursive: true });
        const m = measure(entry, argsFor(state));
        samples[name]?.rss.push(m.rssKiB);
        samples[name]?.ms.push(m.ms);
      }
    }
    results[command] = Object.fromEntries(
      Object.entries(samples).map(([name, s]) => [
        name,
        { rssMiB: Math.round((median(s.rss) / 1024) * 10) / 10, wallMs: Math.round(median(s.ms)), samples: runs },
      ]),
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

const summary = {
  node: process.version,
  bundleBytes: bytes.length,
  bundleGzipBytes: gzipSync(bytes, { level: 9 }).length,
  results,
};
await mkdir(path.join(root, 'bench/results'), { recursive: true });
await writeFile(path.join(root, 'bench/results/agent-bundle.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(`bundle: ${summary.bundleBytes} bytes (${summary.bundleGzipBytes} after zlib level 9)`);
for (const [command, byLauncher] of Object.entries(results)) {
  for (const [name, r] of Object.entries(byLauncher)) {
    console.log(
      `${command.padEnd(8)} ${name.padEnd(7)} peak RSS ${String(r.rssMiB).padStart(6)} MiB   wall ${r.wallMs} ms (median of ${r.samples})`,
    );
  }
}
