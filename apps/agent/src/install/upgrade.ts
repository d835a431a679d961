import { readFile } from 'node:fs/promises';
import { AGENT_DOWNLOAD_PATH, AGENT_SHA256_HEADER, AGENT_SHA256_PATH, AGENT_VERSION_HEADER } from '@ballast/shared';
import { errorMessage } from '../log.js';
import { parseBundle, sha256Hex } from './bundle.js';
import { writeFileAtomic } from './files.js';
import { httpGet, serverUrl } from './http.js';
import { UNIT_NAME } from './layout.js';
import type { Systemd } from './systemd.js';

export class UpgradeError extends Error {
  override readonly name = 'UpgradeError';
}

export interface DownloadedBundle {
  bytes: Buffer;
  version: string;
  sha256: string;
}

/**
 * Downloads the bundle the server publishes, over verified TLS, and checks it against the
 * SHA-256 the server publishes separately (and names in the download's header).
 */
export async function downloadBundle(
  server: string,
  ca: { pem: string | null; file: string | null },
): Promise<DownloadedBundle> {
  const sumAnswer = await httpGet(serverUrl(server, AGENT_SHA256_PATH), ca, { maxBytes: 4096 });
  if (sumAnswer.status !== 200)
    throw new UpgradeError(
      `${AGENT_SHA256_PATH}: HTTP ${sumAnswer.status} ${sumAnswer.body.toString('utf8').slice(0, 200)}`,
    );
  const published = /^([a-f0-9]{64})\b/.exec(sumAnswer.body.toString('utf8'))?.[1];
  if (!published) throw new UpgradeError(`${AGENT_SHA256_PATH} does not hold a SHA-256`);
  const answer = await httpGet(serverUrl(server, AGENT_DOWNLOAD_PATH), ca);
  if (answer.status !== 200)
    throw new UpgradeError(
      `${AGENT_DOWNLOAD_PATH}: HTTP ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`,
    );
  const sha256 = sha256Hex(answer.body);
  const header = answer.headers[AGENT_SHA256_HEADER];
  if (sha256 !== published || (header !== undefined && header !== published)) {
    throw new UpgradeError(
      `the downloaded bundle's SHA-256 ${sha256} does not match the published ${published}; nothing was changed`,
    );
  }
  const version = parseBundle(answer.body, 'the downloaded file');
  const advertised = answer.headers[AGENT_VERSION_HEADER];
  if (typeof advertised === 'string' && advertised !== version) {
    throw new UpgradeError(`the server advertises ${advertised} but the bundle says ${version}; nothing was changed`);
  }
  return { bytes: answer.body, version, sha256 };
}

export interface UpgradeOptions {
  server: string;
  ca: { pem: string | null; file: string | null };
  /** The installed bundle, as this process writes it. */
  bundleFile: string;
  force: boolean;
  restart: boolean;
  systemd: Systemd;
  say: (line: string) => void;
}

/** Replaces the installed bundle (write beside it, rename over it), then restarts the unit. */
export async function upgrade(o: UpgradeOptions): Promise<{ changed: boolean; version: string }> {
  let currentSha: string | null = null;
  try {
    currentSha = sha256Hex(await readFile(o.bundleFile));
  } catch (err) {
    throw new UpgradeError(`no installed bundle at ${o.bundleFile} (${errorMessage(err)}): install first`);
  }
  const next = await downloadBundle(o.server, o.ca);
  if (next.sha256 === currentSha && !o.force) {
    o.say(`already up to date: ballast-agent ${next.version} (sha256 ${next.sha256})`);
    return { changed: false, version: next.version };
  }
  await writeFileAtomic(o.bundleFile, next.bytes, 0o755);
  o.say(`installed ballast-agent ${next.version} (sha256 ${next.sha256}) at ${o.bundleFile}`);
  if (!o.restart) return { changed: true, version: next.version };
  if (await o.systemd.available()) {
    await o.systemd.restart(UNIT_NAME);
    o.say(`restarted ${UNIT_NAME}`);
  } else {
    o.say(`systemd is not running here: restart the agent yourself (systemctl restart ${UNIT_NAME})`);
  }
  return { changed: true, version: next.version };
}
