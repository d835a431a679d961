import type { Container, Inventory } from '@ballast/shared';
import { hasLogRotation } from '../collectors/logs.js';
import type { RemediationConfig } from '../config/file.js';
import { protectedByLabel } from './policy.js';
import type { PlanDraft, SpecOf } from './types.js';

/** The json-file live log of a container, as the scanner found it. */
export function liveLogFile(c: Pick<Container, 'id' | 'logFiles'>) {
  return c.logFiles.find((f) => f.path.endsWith(`/${c.id}-json.log`)) ?? null;
}

/**
 * Why truncating this container's live log is unsafe, or null when it is safe.
 *
 * Safe only for the json-file driver with no rotation configured and no rotated file:
 * dockerd opens a json-file log with O_APPEND until its first rotation, so a truncated
 * file simply continues at offset 0. After a rotation the live file is reopened without
 * O_APPEND, and truncating it leaves a NUL-prefixed sparse file that `docker logs` chokes
 * on (moby/moby#40584, #53631). With rotation configured, a rotation can happen between our
 * check and the truncation, so a rotating log is refused even before its first rotation;
 * it is already bounded anyway. The local driver keeps compressed protobuf files with its
 * own rotation: never truncated.
 */
export function truncationRefusal(
  c: Pick<Container, 'id' | 'state' | 'logDriver' | 'logOptions' | 'logFiles'>,
): string | null {
  if (c.logDriver !== 'json-file') {
    return `log driver ${c.logDriver}: only json-file logs are truncated (the local driver rotates and compresses its own files)`;
  }
  if (hasLogRotation(c.logDriver, c.logOptions)) {
    return `log rotation is configured (max-size ${c.logOptions['max-size']}): the log is bounded already, and truncating a rotating json-file log can leave a NUL-prefixed sparse file`;
  }
  const rotated = c.logFiles.filter((f) => f !== liveLogFile(c));
  if (rotated.length > 0) {
    return `the log has rotated (${rotated.length} rotated files): dockerd reopened it without O_APPEND, so truncating it would leave a NUL-prefixed sparse file`;
  }
  if (!['running', 'exited', 'created', 'dead'].includes(c.state)) {
    return `container is ${c.state}`;
  }
  if (!liveLogFile(c)) return 'the container has no json-file log on disk';
  return null;
}

export function planTruncateLog(inv: Inventory, spec: SpecOf<'logs.truncate'>, policy: RemediationConfig): PlanDraft {
  const id = spec.params.containerId;
  const c = inv.containers.find((x) => x.id === id);
  const notes = [
    'Docker documents its log files as accessed only by the daemon; truncation is done only where the file is known to be opened with O_APPEND.',
    'Setting log rotation (logs.configureRotation) and recreating the container is the lasting fix.',
  ];
  if (!c) {
    return {
      items: [],
      skipped: [{ type: 'container', id, name: id.slice(0, 12), reason: 'no such container' }],
      notes,
      configChange: null,
    };
  }
  const live = liveLogFile(c);
  const reason = protectedByLabel(policy.protectedLabels, c.labels) ?? truncationRefusal(c);
  if (reason || !live) {
    return {
      items: [],
      skipped: [{ type: 'log', id: live?.path ?? c.id, name: c.name, reason: reason ?? 'no log file' }],
      notes,
      configChange: null,
    };
  }
  return {
    items: [
      {
        type: 'log',
        id: live.path,
        name: c.name,
        bytes: live.bytes,
        note: `container ${c.id}: live json-file log, ${live.bytes} bytes (${live.allocatedBytes} allocated); the container is not touched`,
      },
    ],
    skipped: [],
    notes,
    configChange: null,
  };
}
