/** Where the Docker Engine API listens: a unix socket, or plain-HTTP TCP (`tcp://host:port`). */
export type DockerEndpoint =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'tcp'; host: string; port: number; display: string };

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/** Parses a DOCKER_HOST-style value. A bare absolute path is taken as a unix socket. */
export function parseDockerHost(value: string): DockerEndpoint {
  const raw = value.trim();
  if (raw.startsWith('/')) return { kind: 'unix', socketPath: raw, display: `unix://${raw}` };
  if (raw.startsWith('unix://')) {
    const socketPath = raw.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new Error(`docker host ${value}: unix socket path must be absolute`);
    return { kind: 'unix', socketPath, display: raw };
  }
  if (raw.startsWith('tcp://') || raw.startsWith('http://')) {
    const url = new URL(raw.replace(/^tcp:/, 'http:'));
    if (!url.hostname) throw new Error(`docker host ${value}: missing host`);
    const port = url.port ? Number(url.port) : 2375;
    return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port, display: `tcp://${url.host}` };
  }
  throw new Error(`docker host ${value}: unsupported scheme (use unix:///path/docker.sock or tcp://host:port)`);
}
