import path from 'node:path';
import { type RemediationConfig, ZRemediationConfig } from '../src/config/file.js';
import { DockerClient } from '../src/docker/client.js';
import { parseDockerHost } from '../src/docker/endpoint.js';
import { DEFAULT_HOST_PATHS } from '../src/host.js';
import { scannerJobEnv } from '../src/jobs/env.js';
import { JobService } from '../src/jobs/service.js';
import { silentLogger } from '../src/log.js';
import { Scanner } from '../src/scanner.js';
import { StateStore } from '../src/state/store.js';
import { buildImage } from './docker-build.js';
import { AGENT_DIR, type DockerTestEnv, docker, sh } from './helpers.js';

/** Everything the job tests create carries this label; afterAll removes it. */
export const TEST_LABEL = 'ballast-test=jobs';

/** Fixture objects are protected in every job test unless a test says otherwise. */
export function remediation(overrides: Partial<RemediationConfig> = {}): RemediationConfig {
  return ZRemediationConfig.parse({ protectedLabels: ['fixture=fx'], ...overrides });
}

/** A JobService as `run` and the CLI build it: real client, real scanner, a state dir of its own. */
export async function jobService(env: DockerTestEnv, stateDir: string, policy = remediation()) {
  const client = new DockerClient(parseDockerHost(env.host));
  const store = await StateStore.open(stateDir, silentLogger);
  const scanner = new Scanner({
    client,
    store,
    log: silentLogger,
    hostPaths: { ...DEFAULT_HOST_PATHS, machineIdFile: path.join(stateDir, 'no-machine-id') },
    hostLabels: {},
    dataRootOverride: env.dataRoot,
    mountInfoPath: '/proc/self/mountinfo',
  });
  const jobEnv = scannerJobEnv({
    client,
    scanner,
    docker: true,
    remediation: policy,
    dataRootOverride: env.dataRoot,
  });
  return { client, scanner, service: new JobService(jobEnv, stateDir) };
}

/** `jobs/base:1`: busybox with its applets, the kept parent of every test image. */
export async function buildBase(env: DockerTestEnv): Promise<string> {
  return buildImage(env, {
    tag: 'jobs/base:1',
    builder: 'classic',
    dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n',
    files: { busybox: { busybox: true } },
    labels: { 'ballast-test': 'jobs' },
  });
}

/** An image on jobs/base with one layer of `mib` MiB of random data (so it shares nothing else). */
export function buildBlobImage(
  env: DockerTestEnv,
  tag: string,
  mib: number,
  builder: 'classic' | 'buildkit' = 'classic',
): Promise<string> {
  return buildImage(env, {
    tag,
    builder,
    dockerfile: `FROM jobs/base:1\nRUN dd if=/dev/urandom of=/blob bs=1048576 count=${mib} 2>/dev/null && echo ${tag}-${Math.random()} > /id\n`,
    labels: { 'ballast-test': 'jobs' },
  });
}

/** `du -s -B1 -x` of the data root: allocated bytes, the running container's merged mount not walked. */
export async function duDataRoot(env: DockerTestEnv): Promise<number> {
  await sh('sync', []);
  return Number((await sh('du', ['-s', '-B1', '-x', env.dataRoot])).split('\t')[0]);
}

export async function exists(env: DockerTestEnv, kind: 'image' | 'container' | 'volume', id: string) {
  return docker(env, [kind, 'inspect', id]).then(
    () => true,
    () => false,
  );
}

/** Rebuilds the shared fixture after tests that removed fixture objects (idempotent, ~30 s). */
export async function restoreFixture(env: DockerTestEnv): Promise<void> {
  await sh('bash', [path.join(AGENT_DIR, 'test/fixtures/make-docker-state.sh')], {
    DOCKER_HOST: env.host,
    CLEAN: '1',
  });
}
