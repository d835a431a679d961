import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from '@ballast/shared/zod';
import { errorMessage, type Logger } from '../log.js';

const count = z.int().check(z.nonnegative());

const ZLayerUsageEntry = z.object({
  cacheId: z.string(),
  apparentBytes: count,
  allocatedBytes: count,
  entries: count,
});

const ZAgentState = z.object({
  version: z.literal(1),
  /** Used as the machine ID when /etc/machine-id is missing. */
  machineId: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  /** Image ID → when a container last referenced it (agent's clock; Docker keeps no such time). */
  imageLastUsed: z._default(z.record(z.string(), z.string()), {}),
  /** Layer chainID → walk result; layer content is immutable, so these survive restarts. */
  layerUsage: z._default(z.record(z.string(), ZLayerUsageEntry), {}),
});
export type AgentState = z.infer<typeof ZAgentState>;
export type LayerUsageEntry = z.infer<typeof ZLayerUsageEntry>;

export const STATE_FILE = 'state.json';

function emptyState(): AgentState {
  return { version: 1, imageLastUsed: {}, layerUsage: {} };
}

/**
 * The agent's small persistent state: one JSON file in the state dir, replaced atomically
 * (write a temp file, then rename) so a crash never leaves half a file. Without a writable
 * state dir the agent still works; it just forgets across restarts.
 */
export class StateStore {
  private dirty = false;
  private warnedUnwritable = false;

  private constructor(
    readonly dir: string,
    readonly state: AgentState,
    private readonly log: Logger,
  ) {}

  static async open(dir: string, log: Logger): Promise<StateStore> {
    const file = path.join(dir, STATE_FILE);
    let state = emptyState();
    try {
      const parsed = ZAgentState.safeParse(JSON.parse(await readFile(file, 'utf8')));
      if (parsed.success) state = parsed.data;
      else log.warn('state file is not valid; starting fresh', { file, issue: parsed.error.issues[0]?.message });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        log.warn('cannot read state file; starting fresh', { file, error: errorMessage(err) });
      }
    }
    return new StateStore(dir, state, log);
  }

  markDirty(): void {
    this.dirty = true;
  }

  /** A stable ID for this host when /etc/machine-id is unavailable; generated once and kept. */
  fallbackMachineId(): string {
    if (!this.state.machineId) {
      this.state.machineId = randomBytes(16).toString('hex');
      this.dirty = true;
    }
    return this.state.machineId;
  }

  /**
   * Images used by a running container were used now; images referenced only by stopped
   * containers keep the first time the agent saw them referenced. Forgets removed images.
   */
  recordImageUse(
    references: ReadonlyArray<{ imageId: string; running: boolean }>,
    presentImageIds: ReadonlySet<string>,
    now: Date,
  ): void {
    const lastUsed = this.state.imageLastUsed;
    const stamp = now.toISOString();
    for (const { imageId, running } of references) {
      if (running) {
        if (lastUsed[imageId] !== stamp) lastUsed[imageId] = stamp;
      } else if (!lastUsed[imageId]) {
        lastUsed[imageId] = stamp;
      } else continue;
      this.dirty = true;
    }
    for (const id of Object.keys(lastUsed)) {
      if (!presentImageIds.has(id)) {
        delete lastUsed[id];
        this.dirty = true;
      }
    }
  }

  async flush(): Promise<void> {
    if (!this.dirty) return;
    const file = path.join(this.dir, STATE_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeFile(tmp, `${JSON.stringify(this.state)}\n`, { mode: 0o600 });
      await rename(tmp, file);
      this.dirty = false;
    } catch (err) {
      if (!this.warnedUnwritable) {
        this.log.warn('cannot write the state dir; image last-used times and layer sizes will not survive a restart', {
          dir: this.dir,
          error: errorMessage(err),
        });
        this.warnedUnwritable = true;
      }
    }
  }
}
