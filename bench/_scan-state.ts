// Builds (or finds) the large host state `bench/scan.ts` measures: ≥300 images, ≥2,000
// layers, ≥200,000 files in writable layers and volumes. Everything carries the label
// ballast.bench=scan; a marker volume written last says the state is complete.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { buildImage, removeLabelled } from '../apps/agent/test/docker-build.js';
import { type DockerTestEnv, docker, sh } from '../apps/agent/test/helpers.js';

export const BENCH_LABEL = 'ballast.bench=scan';
const MARKER_VOLUME = 'ballast-bench-scan-complete';
const PREFIX = 'bench-scan';

export const TARGETS = { images: 300, layers: 2_000, files: 200_000 };
const BASES = 4;
const IMAGES = 300;
const COPY_LAYERS = 6;
const CLASSIC_EVERY = 15; // every 15th image goes through the classic builder (intermediate images)
const BUILD_CONCURRENCY = 6;
/** Containers writing into their writable layer, and volumes filled by a throwaway container. */
const FILE_CONTAINERS = [
  { name: 'files-0', keepRunning: true },
  { name: 'files-1', keepRunning: true },
  { name: 'files-2', keepRunning: false },
  { name: 'files-3', keepRunning: false },
];
const FILE_VOLUMES = ['files-vol-0', 'files-vol-1'];
const DIRS_PER_WRITER = 35;
const FILES_PER_DIR = 1_000;

export interface StateCounts {
  /** Top-level images (`docker images`), and all of them with classic-build parents (`-a`). */
  images: number;
  imagesAll: number;
  layers: number;
  /** Non-directories under writable layers and local volumes, counted by find. */
  files: number;
  containers: number;
  volumes: number;
}

const log = (msg: string) => process.stderr.write(`[state] ${msg}\n`);

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

const labels = { 'ballast.bench': 'scan' };

/** A busybox sh loop writing DIRS × FILES small files below `root`. */
function writeFilesScript(root: string): string {
  return [
    `mkdir -p ${root} && cd ${root}`,
    'd=0',
    `while [ $d -lt ${DIRS_PER_WRITER} ]; do`,
    '  mkdir d$d && cd d$d && i=0',
    `  while [ $i -lt ${FILES_PER_DIR} ]; do echo "file $d/$i" > f$i; i=$((i+1)); done`,
    '  cd .. && d=$((d+1))',
    'done',
  ].join('\n');
}

async function build(env: DockerTestEnv): Promise<void> {
  log('removing any partial state');
  await removeLabelled(env, BENCH_LABEL);
  const started = Date.now();
  for (let b = 0; b < BASES; b += 1) {
    await buildImage(env, {
      tag: `${PREFIX}/base-${b}:1`,
      labels,
      files: { 'rootfs/bin/busybox': { busybox: true }, 'rootfs/etc/bench-base': `${b}\n` },
      dockerfile: [
        'FROM scratch',
        'COPY rootfs/ /',
        'RUN ["/bin/busybox","--install","-s","/bin"]',
        `RUN mkdir -p /opt/base && dd if=/dev/urandom of=/opt/base/blob bs=1024 count=${64 * (b + 1)} 2>/dev/null`,
        'CMD ["/bin/sh"]',
      ].join('\n'),
    });
  }
  log(`${BASES} base images built`);
  let done = 0;
  await mapLimit(
    Array.from({ length: IMAGES }, (_, i) => i),
    BUILD_CONCURRENCY,
    async (i) => {
      const files: Record<string, string> = {};
      const lines = [`FROM ${PREFIX}/base-${i % BASES}:1`];
      for (let l = 0; l < COPY_LAYERS; l += 1) {
        files[`f${l}`] = `image ${i} layer ${l} ${'#'.repeat((i * 7 + l * 13) % 2000)}\n`;
        lines.push(`COPY f${l} /app/f${l}`);
      }
      lines.push(`RUN echo ${i} > /app/built`);
      await buildImage(env, {
        tag: `${PREFIX}/app-${i}:1`,
        labels,
        files,
        dockerfile: `${lines.join('\n')}\n`,
        builder: i % CLASSIC_EVERY === 0 ? 'classic' : 'buildkit',
      });
      done += 1;
      if (done % 50 === 0) log(`${done}/${IMAGES} images built (${Math.round((Date.now() - started) / 1000)} s)`);
    },
  );

  const run = ['--network', 'none', '--label', BENCH_LABEL];
  const writers: Array<Promise<unknown>> = [];
  for (const c of FILE_CONTAINERS) {
    const script = `${writeFilesScript('/data')}\n${c.keepRunning ? 'touch /data/done; exec sleep 2147483647' : 'true'}`;
    writers.push(
      docker(env, [
        'run',
        c.keepRunning ? '-d' : '--rm=false',
        '--name',
        `${PREFIX}-${c.name}`,
        ...run,
        `${PREFIX}/base-0:1`,
        'sh',
        '-c',
        script,
      ]),
    );
  }
  for (const v of FILE_VOLUMES) {
    writers.push(
      docker(env, ['volume', 'create', '--label', BENCH_LABEL, `${PREFIX}-${v}`]).then(() =>
        docker(env, [
          'run',
          '--rm',
          ...run,
          '-v',
          `${PREFIX}-${v}:/v`,
          `${PREFIX}/base-1:1`,
          'sh',
          '-c',
          writeFilesScript('/v/data'),
        ]),
      ),
    );
  }
  await Promise.all(writers);
  for (const c of FILE_CONTAINERS.filter((x) => x.keepRunning)) {
    for (;;) {
      const ok = await docker(env, ['exec', `${PREFIX}-${c.name}`, 'test', '-f', '/data/done']).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
  // One referenced volume, like a database's data dir.
  await docker(env, [
    'run',
    '-d',
    '--name',
    `${PREFIX}-vol-user`,
    ...run,
    '-v',
    `${PREFIX}-${FILE_VOLUMES[0]}:/v`,
    `${PREFIX}/base-0:1`,
    'sleep',
    '2147483647',
  ]);
  await docker(env, ['volume', 'create', '--label', BENCH_LABEL, MARKER_VOLUME]);
  log(`state built in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Counts what is there now, by the docker CLI, ls and find (no agent code). */
export async function countState(env: DockerTestEnv, dataRoot: string): Promise<StateCounts> {
  const lines = (out: string) => out.split('\n').filter(Boolean).length;
  const images = lines(await docker(env, ['images', '-q', '--no-trunc']));
  const imagesAll = lines(await docker(env, ['images', '-aq', '--no-trunc']));
  const layers = (await readdir(path.join(dataRoot, 'image/overlay2/layerdb/sha256'))).length;
  const containerIds = (await docker(env, ['ps', '-aq', '--no-trunc'])).split('\n').filter(Boolean);
  const uppers =
    containerIds.length === 0
      ? []
      : (await docker(env, ['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', ...containerIds]))
          .split('\n')
          .filter(Boolean);
  const volumeDirs = (await docker(env, ['volume', 'ls', '-q']))
    .split('\n')
    .filter(Boolean)
    .map((v) => path.join(dataRoot, 'volumes', v, '_data'));
  const files = Number(
    (await sh('sh', ['-c', 'find "$@" ! -type d 2>/dev/null | wc -l', 'sh', ...uppers, ...volumeDirs])).trim(),
  );
  return { images, imagesAll, layers, files, containers: containerIds.length, volumes: volumeDirs.length };
}

/** Reuses a complete state from a previous run; builds it otherwise (or when `rebuild`). */
export async function ensureState(
  env: DockerTestEnv,
  dataRoot: string,
  rebuild: boolean,
): Promise<{ counts: StateCounts; reused: boolean }> {
  const marker = await docker(env, [
    'volume',
    'ls',
    '-q',
    '--filter',
    `label=${BENCH_LABEL}`,
    '--filter',
    `name=${MARKER_VOLUME}`,
  ]);
  if (!rebuild && marker.split('\n').includes(MARKER_VOLUME)) {
    const counts = await countState(env, dataRoot);
    if (counts.images >= TARGETS.images && counts.layers >= TARGETS.layers && counts.files >= TARGETS.files) {
      log('reusing the state of a previous run');
      return { counts, reused: true };
    }
    log('the previous state is incomplete; rebuilding');
  }
  await build(env);
  return { counts: await countState(env, dataRoot), reused: false };
}
