import path from 'node:path';
import { DEFAULT_CONFIG_FILE } from '../config/file.js';
import { DEFAULT_STATE_DIR } from '../env.js';

export const UNIT_NAME = 'ballast-agent.service';
/** systemd creates /var/lib/<name> for StateDirectory=; it must match DEFAULT_STATE_DIR. */
export const STATE_DIRECTORY_NAME = path.basename(DEFAULT_STATE_DIR);
export const BUNDLE_NAME = 'ballast-agent.mjs';

/**
 * Where an installation lives, as the host sees it (`host`), and where this process writes
 * it (`write`): the same paths under `root`, which is `/` on a real host and a temporary
 * directory in tests or when preparing an image.
 */
export interface InstallLayout {
  root: string;
  host: {
    configFile: string;
    libDir: string;
    bundleFile: string;
    binLink: string;
    unitFile: string;
    stateDir: string;
  };
  /** The same paths prefixed by root. */
  write: InstallLayout['host'];
  /** Present when systemd is the running init (sd_booted(3) checks the same directory). */
  systemdMarker: string;
}

export function installLayout(root = '/'): InstallLayout {
  const resolvedRoot = path.resolve(root);
  const host = {
    configFile: DEFAULT_CONFIG_FILE,
    libDir: '/usr/local/lib/ballast-agent',
    bundleFile: `/usr/local/lib/ballast-agent/${BUNDLE_NAME}`,
    binLink: '/usr/local/bin/ballast-agent',
    unitFile: `/etc/systemd/system/${UNIT_NAME}`,
    stateDir: DEFAULT_STATE_DIR,
  };
  const under = (p: string) => path.join(resolvedRoot, p);
  return {
    root: resolvedRoot,
    host,
    write: {
      configFile: under(host.configFile),
      libDir: under(host.libDir),
      bundleFile: under(host.bundleFile),
      binLink: under(host.binLink),
      unitFile: under(host.unitFile),
      stateDir: under(host.stateDir),
    },
    systemdMarker: under('/run/systemd/system'),
  };
}
