// Child process of bench/hash.ts: runs the agent's layer hasher (ContentStore.hashPending,
// exactly what `scan --analyze` and `run` use) over the corpus directories as if each were a
// layer's diff dir, and prints one JSON line: time, files and bytes hashed, and RSS.
//   node --import tsx bench/_hash-worker.ts <stateDir> <layerDir>...
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Pacer, UNLIMITED_BUDGET } from '../apps/agent/src/analysis/budget.js';
import { ContentStore } from '../apps/agent/src/analysis/store.js';

// `--rate=MIB` first: pace reads as `run` does (MiB/s), to show the budget holds.
const rateArg = process.argv[2]?.startsWith('--rate=') ? Number(process.argv[2].slice(7)) : null;
const [stateDir, ...dirs] = process.argv.slice(rateArg === null ? 2 : 3);
if (!stateDir || dirs.length === 0) {
  console.error('usage: _hash-worker.ts <stateDir> <layerDir>...');
  process.exit(2);
}
/**
 * VmHWM: this process's own peak resident set. Not getrusage's maxrss, which Linux carries over
 * from the forked parent across exec (a 200 MB parent makes a 53 MB child report 214 MB).
 */
const statusKiB = (field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
const rssBefore = statusKiB('VmRSS');
const anonBefore = statusKiB('RssAnon');
// RssAnon is the process's private memory; VmRSS adds the resident pages of mapped files (the
// node binary, shared with every node process), which vary with what the page cache holds.
let peakAnon = anonBefore;
const sampler = setInterval(() => {
  peakAnon = Math.max(peakAnon, statusKiB('RssAnon'));
}, 50);
const store = new ContentStore(stateDir);
const layers = dirs.map((dir) => ({
  chainId: `sha256:${createHash('sha256').update(dir).digest('hex')}`,
  cacheId: 'bench',
  diffDir: dir,
  opaqueDirs: async () => new Set<string>(),
}));
const started = performance.now();
const budget = rateArg === null ? UNLIMITED_BUDGET : { bytesPerSecond: rateArg * 1024 * 1024, passSeconds: null };
const pass = await store.hashPending(layers, new Pacer(budget));
const ms = performance.now() - started;
clearInterval(sampler);
process.stdout.write(
  `${JSON.stringify({
    ms,
    ...pass,
    chainIds: layers.map((l) => l.chainId),
    rssBeforeBytes: rssBefore,
    rssAnonBeforeBytes: anonBefore,
    rssAnonPeakSampledBytes: Math.max(peakAnon, statusKiB('RssAnon')),
    maxRssBytes: statusKiB('VmHWM'),
  })}\n`,
);
