import { EventEmitter, on } from 'node:events';

export interface HostChange {
  orgId: string;
  hostId: string;
  reason: 'snapshot' | 'connected' | 'disconnected' | 'job';
  /** Set for `job`: the job whose state or progress changed. */
  jobId?: string;
}

/**
 * In-process fan-out of host changes to open dashboards. The gateway and the tRPC route
 * handlers live in separate module graphs of one process, so the emitter hangs off
 * globalThis. Several server processes would need Postgres LISTEN/NOTIFY here instead.
 */
export class HostEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every open dashboard subscribes once; the default warning threshold of 10 is too low.
    this.emitter.setMaxListeners(0);
  }

  publish(change: HostChange): void {
    this.emitter.emit('change', change);
  }

  /** Changes as they happen, until the signal aborts. */
  async *stream(signal?: AbortSignal): AsyncGenerator<HostChange> {
    try {
      for await (const [change] of on(this.emitter, 'change', { signal })) yield change as HostChange;
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  }
}
