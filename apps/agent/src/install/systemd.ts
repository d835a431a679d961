import { access } from 'node:fs/promises';

/**
 * What install, uninstall, upgrade and status ask of systemd. The only place the agent starts
 * a process: `systemctl` with fixed argument arrays, no shell. The long-running `run` command
 * never comes here.
 */
export interface Systemd {
  /** Whether systemd is the running init (so systemctl can be used). */
  available(): Promise<boolean>;
  daemonReload(): Promise<void>;
  enableNow(unit: string): Promise<void>;
  restart(unit: string): Promise<void>;
  disableNow(unit: string): Promise<void>;
  /** ActiveState/SubState/UnitFileState as `systemctl show` reports them. */
  show(unit: string): Promise<{ activeState: string; subState: string; unitFileState: string }>;
}

export class SystemctlError extends Error {
  override readonly name = 'SystemctlError';
}

async function systemctl(args: string[], timeoutMs = 60_000): Promise<string> {
  // Loaded here: only install, upgrade, uninstall and status run systemctl; `run` never does.
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile('systemctl', args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const detail = (stderr || err.message).trim().split('\n').slice(0, 3).join(' ');
        reject(new SystemctlError(`systemctl ${args.join(' ')} failed: ${detail}`));
      } else resolve(stdout);
    });
  });
}

/** The real systemd, through systemctl. `marker` is /run/systemd/system under the install root. */
export function systemctlSystemd(marker: string): Systemd {
  return {
    available: () =>
      access(marker).then(
        () => true,
        () => false,
      ),
    daemonReload: async () => void (await systemctl(['daemon-reload'])),
    enableNow: async (unit) => void (await systemctl(['enable', '--now', unit])),
    restart: async (unit) => void (await systemctl(['restart', unit])),
    disableNow: async (unit) => void (await systemctl(['disable', '--now', unit])),
    show: async (unit) => {
      const out = await systemctl(['show', unit, '--property=ActiveState,SubState,UnitFileState']);
      const props = Object.fromEntries(
        out
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      return {
        activeState: props.ActiveState ?? 'unknown',
        subState: props.SubState ?? 'unknown',
        unitFileState: props.UnitFileState ?? 'unknown',
      };
    },
  };
}
