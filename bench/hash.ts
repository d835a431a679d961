// `npm run bench -- hash [--rebuild] [--runs N]`
//
// The agent's content hasher against `sha256sum` over the same files. Builds (or reuses) a
// corpus in $TMPDIR/ballast-bench-hash: 4 directories standing for layers, each with large,
// medium and small files of random content (~630 MiB, 6,428 files), then, on a warm page cache:
//   (a) sha256sum over every file (find -print0 | xargs -0 sha256sum), median of N runs; and
//       `openssl dgst -sha256` the same way for context (it uses the CPU's SHA extensions)
//   (b) the agent's hasher (ContentStore.hashPending, as `scan --analyze` runs it) in a child
//       process with an empty content cache, median of N runs, launched with tsx as
//       bin/ballast-agent.mjs launches the agent; peak RSS = VmHWM of that process
//   (c) the same hasher again on the state (b) left: files hashed must be 0
//   (d) the same worker bundled by esbuild and run by plain node, once: its peak RSS is what
//       the hashing costs without the TypeScript loader (tsx holds ~45 MB more)
// RSS is VmHWM (the process's own peak; not getrusage maxrss, which Linux carries over from
// the forked parent across exec) and, sampled every 50 ms, RssAnon (private memory, without
// the resident pages of the node binary, which depend on the page cache).
// It checks that both tools produced the same sha256 for every file, and (e) hashes one layer
// dir with reads paced at 64 MiB/s, as `run` paces them (--hash-rate).
// Targets: throughput ≥ 80 % of sha256sum, 0 files rehashed, RSS ≤ 80 MB.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decodeEntry } from '../apps/agent/src/analysis/records.js';

const TARGET = { throughputRatio: 0.8, rehashedFiles: 0, rssMb: 80 };
const LAYERS = 4;
/** Per layer: [count, bytes each]. */
const SHAPE: Array<[number, number]> = [
  [3, 32 << 20],
  [100, 512 << 10],
  [1_500, 8 << 10],
  [4, 0],
];

const { values: flags } = parseArgs({
  options: { rebuild: { type: 'boolean', default: false }, runs: { type: 'string', default: '3' } },
});
const runs = Number(flags.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
  console.error('bench hash: --runs must be a whole number from 1 to 20');
  process.exit(2);
}
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const MB = 1e6;

const corpus = path.join(os.tmpdir(), 'ballast-bench-hash');
const marker = path.join(corpus, 'complete');
const layerDirs = Array.from({ length: LAYERS }, (_, i) => path.join(corpus, `layer-${i}`));

async function buildCorpus(): Promise<void> {
  if (!flags.rebuild && existsSync(marker)) {
    log(`reusing corpus ${corpus}`);
    return;
  }
  log(`building corpus ${corpus}`);
  await rm(corpus, { recursive: true, force: true });
  for (const dir of layerDirs) {
    for (const [s, [count, bytes]] of SHAPE.entries()) {
      const sub = path.join(dir, `set-${s}`, 'nested');
      await mkdir(sub, { recursive: true });
      for (let i = 0; i < count; i++) {
        // Random content in 1 MiB pieces: nothing compresses or repeats.
        const file = path.join(sub, `f-${i}.bin`);
        await writeFile(file, '');
        for (let done = 0; done < bytes; done += 1 << 20) {
          await writeFile(file, randomBytes(Math.min(1 << 20, bytes - done)), { flag: 'a' });
        }
      }
    }
  }
  await writeFile(marker, `${new Date().toISOString()}\n`);
}

function corpusStats(): { files: number; bytes: number } {
  const r = spawnSync('sh', ['-c', 'find "$1" -path "$1/complete" -prune -o -type f -printf "%s\\n"', 'sh', corpus], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const sizes = r.stdout.split('\n').filter(Boolean).map(Number);
  return { files: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** sha256sum (or `openssl dgst -sha256 -r`, same output) over every corpus file: wall ms and path → hash. */
function runSha256sum(tool: 'sha256sum' | 'openssl' = 'sha256sum'): { ms: number; hashes: Map<string, string> } {
  const command = tool === 'sha256sum' ? 'sha256sum' : 'openssl dgst -sha256 -r';
  const started = performance.now();
  const r = spawnSync('sh', ['-c', `find "$@" -type f -print0 | xargs -0 ${command}`, 'sh', ...layerDirs], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr}`);
  const hashes = new Map<string, string>();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    hashes.set(line.slice(66).replace(/^\*/, ''), line.slice(0, 64));
  }
  return { ms, hashes };
}

interface WorkerResult {
  ms: number;
  layersHashed: number;
  filesHashed: number;
  bytesHashed: number;
  failures: string[];
  chainIds: string[];
  rssBeforeBytes: number;
  rssAnonBeforeBytes: number;
  rssAnonPeakSampledBytes: number;
  maxRssBytes: number;
}

function runAgent(stateDir: string, bundle?: string, paced?: { mib: number; dirs: string[] }): WorkerResult {
  const args = bundle ? [bundle] : ['--import', 'tsx', path.join('bench', '_hash-worker.ts')];
  const tail = paced ? [`--rate=${paced.mib}`, stateDir, ...paced.dirs] : [stateDir, ...layerDirs];
  const r = spawnSync(process.execPath, [...args, ...tail], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`hash worker failed: ${r.stderr}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop() as string) as WorkerResult;
  if (result.failures.length > 0) throw new Error(`hash worker: ${result.failures.join('; ')}`);
  return result;
}

/** Path → hash from the records the agent wrote (paths are relative to each layer dir). */
function agentHashes(stateDir: string, chainIds: string[]): Map<string, string> {
  const out = new Map<string, string>();
  chainIds.forEach((chainId, i) => {
    const file = path.join(stateDir, 'layers', `${chainId.slice(7)}.records`);
    for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
      const e = decodeEntry(line);
      if (e.type === 'f') out.set(`${layerDirs[i]}${e.path}`, e.payload);
    }
  });
  return out;
}

await buildCorpus();
const stats = corpusStats();
log(`corpus: ${stats.files} files, ${round(stats.bytes / MB)} MB`);

// Warm the page cache for both tools.
const reference = runSha256sum();
const scratch = await mkdtemp(path.join(os.tmpdir(), 'ballast-bench-hash-state-'));
runAgent(path.join(scratch, 'warm'));

const shaMs: number[] = [];
const opensslMs: number[] = [];
const agentMs: number[] = [];
runSha256sum('openssl');
const rss: number[] = [];
let second: WorkerResult | null = null;
let first: WorkerResult | null = null;
let firstState = '';
for (let i = 0; i < runs; i++) {
  shaMs.push(runSha256sum().ms);
  const openssl = runSha256sum('openssl');
  opensslMs.push(openssl.ms);
  if (
    openssl.hashes.size !== reference.hashes.size ||
    [...openssl.hashes].some(([f, h]) => reference.hashes.get(f) !== h)
  ) {
    throw new Error('openssl and sha256sum disagree');
  }
  const state = path.join(scratch, `run-${i}`);
  const r = runAgent(state);
  if (r.filesHashed !== stats.files) throw new Error(`agent hashed ${r.filesHashed} files, corpus has ${stats.files}`);
  agentMs.push(r.ms);
  rss.push(r.maxRssBytes);
  first = r;
  firstState = state;
  log(
    `run ${i + 1}: sha256sum ${round(shaMs[i] as number, 0)} ms, agent ${round(r.ms, 0)} ms, peak RSS ${round(r.maxRssBytes / MB)} MB`,
  );
}
second = runAgent(firstState);

const bundle = path.join(scratch, 'hash-worker.mjs');
const built = spawnSync(
  path.join('node_modules', '.bin', 'esbuild'),
  [
    path.join('bench', '_hash-worker.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    `--outfile=${bundle}`,
    '--log-level=error',
  ],
  { encoding: 'utf8' },
);
if (built.status !== 0) throw new Error(`esbuild failed: ${built.stderr}`);
const bundled = runAgent(path.join(scratch, 'bundled'), bundle);
log(`bundled: agent ${round(bundled.ms, 0)} ms, peak RSS ${round(bundled.maxRssBytes / MB)} MB`);

// (e) Paced as `run` paces it: one layer dir at PACED_MIB MiB/s.
const PACED_MIB = 64;
const pacedDir = layerDirs[0] as string;
const pacedBytes = Number(
  spawnSync(
    'sh',
    ['-c', 'find "$1" -type f -printf "%s\\n" | awk "{s+=\\$1} END {printf \\"%d\\", s}"', 'sh', pacedDir],
    {
      encoding: 'utf8',
    },
  ).stdout,
);
const paced = runAgent(path.join(scratch, 'paced'), undefined, { mib: PACED_MIB, dirs: [pacedDir] });
const pacedMibPerSecond = pacedBytes / (1024 * 1024) / (paced.ms / 1000);
log(`paced at ${PACED_MIB} MiB/s: ${round(pacedMibPerSecond)} MiB/s achieved over ${round(pacedBytes / MB)} MB`);

const ours = agentHashes(firstState, first?.chainIds ?? []);
let mismatches = 0;
for (const [file, hash] of reference.hashes) if (ours.get(file) !== hash) mismatches += 1;
if (ours.size !== reference.hashes.size) mismatches += Math.abs(ours.size - reference.hashes.size);
await rm(scratch, { recursive: true, force: true });

const shaMedian = median(shaMs);
const opensslMedian = median(opensslMs);
const agentMedian = median(agentMs);
const ratio = shaMedian / agentMedian;
const peakRssMb = Math.max(...rss) / MB;
const bundledRssMb = bundled.maxRssBytes / MB;
const result = {
  generatedAt: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, node: process.version },
  corpus: { path: corpus, layers: LAYERS, files: stats.files, bytes: stats.bytes },
  runs,
  sha256sum: {
    medianMs: round(shaMedian),
    runsMs: shaMs.map((x) => round(x)),
    mbPerSecond: round(stats.bytes / MB / (shaMedian / 1000)),
  },
  // For context: OpenSSL uses the CPU's SHA extensions, which this coreutils sha256sum does not.
  opensslDgst: {
    medianMs: round(opensslMedian),
    runsMs: opensslMs.map((x) => round(x)),
    mbPerSecond: round(stats.bytes / MB / (opensslMedian / 1000)),
  },
  agent: {
    medianMs: round(agentMedian),
    runsMs: agentMs.map((x) => round(x)),
    mbPerSecond: round(stats.bytes / MB / (agentMedian / 1000)),
    filesHashed: first?.filesHashed ?? null,
    bytesHashed: first?.bytesHashed ?? null,
    peakRssMb: round(peakRssMb),
    rssBeforeHashingMb: round((first?.rssBeforeBytes ?? 0) / MB),
    peakAnonRssMb: round((first?.rssAnonPeakSampledBytes ?? 0) / MB),
    anonRssBeforeHashingMb: round((first?.rssAnonBeforeBytes ?? 0) / MB),
  },
  bundled: {
    ms: round(bundled.ms),
    mbPerSecond: round(stats.bytes / MB / (bundled.ms / 1000)),
    peakRssMb: round(bundledRssMb),
    rssBeforeHashingMb: round(bundled.rssBeforeBytes / MB),
    peakAnonRssMb: round(bundled.rssAnonPeakSampledBytes / MB),
    anonRssBeforeHashingMb: round(bundled.rssAnonBeforeBytes / MB),
  },
  paced: {
    limitMibPerSecond: PACED_MIB,
    bytes: pacedBytes,
    ms: round(paced.ms),
    achievedMibPerSecond: round(pacedMibPerSecond),
  },
  secondScan: { filesHashed: second.filesHashed, layersHashed: second.layersHashed, ms: round(second.ms) },
  hashesCompared: reference.hashes.size,
  hashMismatches: mismatches,
  throughputRatio: round(ratio, 3),
  throughputRatioVsOpenssl: round(opensslMedian / agentMedian, 3),
  targets: TARGET,
  pass: {
    throughput: ratio >= TARGET.throughputRatio,
    noRehash: second.filesHashed === TARGET.rehashedFiles,
    rssWithTsx: peakRssMb <= TARGET.rssMb,
    rssBundled: bundledRssMb <= TARGET.rssMb,
    sameHashes: mismatches === 0,
    pacedWithinLimit: pacedMibPerSecond <= PACED_MIB * 1.02,
  },
};
await mkdir('bench/results', { recursive: true });
await writeFile('bench/results/hash.json', `${JSON.stringify(result, null, 2)}\n`);

const line = (label: string, value: string, ok: boolean) =>
  `  ${label.padEnd(34)} ${value.padEnd(28)} ${ok ? 'ok' : 'MISSED'}`;
console.log(
  `hash bench: ${stats.files} files, ${round(stats.bytes / MB)} MB in ${LAYERS} layer dirs, median of ${runs}`,
);
console.log(`  sha256sum                          ${round(shaMedian, 0)} ms (${result.sha256sum.mbPerSecond} MB/s)`);
console.log(`  agent hasher                       ${round(agentMedian, 0)} ms (${result.agent.mbPerSecond} MB/s)`);
console.log(
  `  openssl dgst -sha256 (context)     ${round(opensslMedian, 0)} ms (${result.opensslDgst.mbPerSecond} MB/s): agent at ${round((opensslMedian / agentMedian) * 100)} %`,
);
console.log(line('throughput vs sha256sum (≥ 80 %)', `${round(ratio * 100)} %`, result.pass.throughput));
console.log(line('files rehashed on 2nd scan (0)', String(second.filesHashed), result.pass.noRehash));
console.log(
  line(
    'peak RSS, tsx launcher (≤ 80 MB)',
    `${round(peakRssMb)} MB (${result.agent.rssBeforeHashingMb} before)`,
    result.pass.rssWithTsx,
  ),
);
console.log(
  line(
    'peak RSS, bundled (≤ 80 MB)',
    `${round(bundledRssMb)} MB (${result.bundled.rssBeforeHashingMb} before)`,
    result.pass.rssBundled,
  ),
);
console.log(
  line(`paced run (limit ${PACED_MIB} MiB/s)`, `${round(pacedMibPerSecond)} MiB/s`, result.pass.pacedWithinLimit),
);
console.log(
  line(
    'same sha256 as sha256sum',
    `${reference.hashes.size - mismatches}/${reference.hashes.size}`,
    result.pass.sameHashes,
  ),
);
console.log('wrote bench/results/hash.json');
