// How the server hands out the agent: the bundle, its checksum and the install script.

/** The bundled agent (one ESM file). */
export const AGENT_DOWNLOAD_PATH = '/agent/v1/download/ballast-agent.mjs';
/** Its SHA-256 in `sha256sum` format: `<hex>  ballast-agent.mjs`. */
export const AGENT_SHA256_PATH = '/agent/v1/download/ballast-agent.mjs.sha256';
/** POSIX sh installer: `curl -fsSL https://SERVER/install.sh | sudo sh -s -- --token TOKEN`. */
export const INSTALL_SCRIPT_PATH = '/install.sh';
/** Response headers on the download naming the bundle's version and SHA-256. */
export const AGENT_VERSION_HEADER = 'x-ballast-agent-version';
export const AGENT_SHA256_HEADER = 'x-ballast-agent-sha256';

/** The bundle's second line names its version, so it can be read without running the file. */
export function bundleVersion(text: string): string | null {
  const match = /^#![^\n]*\n\/\/ ballast-agent (\S+)\n/.exec(text);
  return match?.[1] ?? null;
}
