import * as z from '@ballast/shared/zod';
import type { DockerClient } from './client.js';

/** Object types whose events can change what the cheap collectors list or inspect. */
const WATCHED_TYPES = ['container', 'image', 'volume', 'daemon'] as const;

/**
 * Actions that change nothing the inventory reads (no state, name, tag, mount or config
 * change): execs, health checks, attaching, `docker top/export/cp` reads, image push/save.
 * Everything else, and any event that cannot be parsed, counts as a change.
 */
const IGNORED_ACTION =
  /^(exec_create|exec_start|exec_die|exec_detach|health_status|attach|detach|resize|top|export|archive-path|push|save)\b/;

const ZEvent = z.object({ Type: z.string(), Action: z.string() });

/** True when an `/events` message may change a listed object. */
export function isInventoryChange(event: unknown): boolean {
  const parsed = ZEvent.safeParse(event);
  return !parsed.success || !IGNORED_ACTION.test(parsed.data.Action);
}

/**
 * Tells whether the engine's objects (containers, images, volumes, daemon config) may have
 * changed since a point in time, from the engine's own `/events` stream, so a pass with nothing
 * changed can reuse the previous lists and inspects instead of asking dockerd again (listing
 * ~450 images costs dockerd over 100 ms). Conservative: while the stream is not connected,
 * and across any reconnection, everything counts as changed.
 *
 * Usage: `const mark = changes.mark()` before listing; later `changes.unchangedSince(mark)`.
 */
export class EngineChanges {
  /** Bumped by every change event and every connect or disconnect of the stream. */
  private generation = 0;
  private live = false;
  private closeStream: (() => void) | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly client: DockerClient,
    private readonly retryMs = 5_000,
  ) {}

  /** Subscribes (needs a negotiated client); a no-op while subscribed or stopped. */
  start(): void {
    if (this.stopped || this.closeStream || this.retry) return;
    this.closeStream = this.client.watchEvents(WATCHED_TYPES, {
      onOpen: () => {
        this.generation += 1;
        this.live = true;
      },
      onEvent: (event) => {
        if (isInventoryChange(event)) this.generation += 1;
      },
      onEnd: () => {
        this.generation += 1;
        this.live = false;
        this.closeStream = null;
        if (this.stopped) return;
        this.retry = setTimeout(() => {
          this.retry = null;
          this.start();
        }, this.retryMs);
        this.retry.unref();
      },
    });
  }

  /** A point to compare against later; null while the stream is down (nothing can be vouched for). */
  mark(): number | null {
    return this.live ? this.generation : null;
  }

  /** True only if the stream has been connected since `mark` and delivered no change. */
  unchangedSince(mark: number | null): boolean {
    return mark !== null && this.live && this.generation === mark;
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.closeStream?.();
  }
}
