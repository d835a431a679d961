import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleVersion } from '@ballast/shared';

/** Set by the bundler; absent when running the TypeScript sources. */
declare const __BALLAST_AGENT_VERSION__: string | undefined;

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

/**
 * The bundle `install` copies: this very file when running bundled (what install.sh runs),
 * else the one `npm run -w @ballast/agent bundle` built in a checkout.
 */
export function defaultBundleSource(): string {
  if (typeof __BALLAST_AGENT_VERSION__ === 'string') return fileURLToPath(import.meta.url);
  return fileURLToPath(new URL('../../dist/ballast-agent.mjs', import.meta.url));
}

export interface Bundle {
  bytes: Buffer;
  version: string;
  sha256: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads a bundle and checks it looks like one (shebang and version line). */
export async function readBundle(file: string): Promise<Bundle> {
  try {
    await access(file);
  } catch {
    throw new BundleError(
      `no agent bundle at ${file}: build it with \`npm run -w @ballast/agent bundle\`, or pass --bundle PATH`,
    );
  }
  const bytes = await readFile(file);
  const version = parseBundle(bytes, file);
  return { bytes, version, sha256: sha256Hex(bytes) };
}

export function parseBundle(bytes: Buffer, what: string): string {
  const version = bundleVersion(bytes.subarray(0, 512).toString('utf8'));
  if (!version) throw new BundleError(`${what} is not a ballast-agent bundle (no "// ballast-agent VERSION" line)`);
  return version;
}
