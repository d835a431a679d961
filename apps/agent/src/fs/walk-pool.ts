import { createRequire } from 'node:module';
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { type NativeTreeResult, type NativeWalk, nativeWalk } from './native-walk.js';
import { startWalk, stepWalk, type TreeUsage, type WalkFs, type WalkState } from './walk.js';

/**
 * At most this many walks run at once, each on its own worker thread. Walks are bound by
 * lstat syscalls on a warm cache and by the CPU around them, so more threads than cores only
 * add contention; two keep the event loop and one core free on larger machines.
 */
export const MAX_WALK_WORKERS = 2;
/** Workers exit after this long without a job: between slow passes the agent holds no isolates. */
const IDLE_EXIT_MS = 2_000;

interface JobOptions {
  oneFileSystem: boolean;
  exclude: string[] | null;
  sliceEntries: number;
}

type WireResult = { ok: true; usage: TreeUsage } | { ok: false; message: string; code?: string };

interface Job {
  id: number;
  /** Higher first; FIFO within a priority. */
  priority: number;
  roots: string[];
  options: JobOptions;
  /** [0] set to 1 by the main thread on abort; the worker checks it between slices. */
  abort: Int32Array;
  resolve: (results: (TreeUsage | Error)[]) => void;
  reject: (err: Error) => void;
}

/**
 * The worker's whole program. Self-contained (serialised with `toString`, like the two walk
 * functions it receives), so it runs the same from the TypeScript sources and the bundle.
 */
function workerMain(
  load: (id: string) => unknown,
  start: (wfs: WalkFs, root: string, oneFileSystem: boolean, exclude: ReadonlySet<string> | null) => WalkState,
  step: (wfs: WalkFs, state: WalkState, budget: number) => boolean,
): void {
  const { parentPort } = load('node:worker_threads') as typeof import('node:worker_threads');
  const wfs = load('node:fs') as WalkFs;
  parentPort?.on('message', (job: { id: number; roots: string[]; options: JobOptions; abort: Int32Array }) => {
    const exclude = job.options.exclude ? new Set(job.options.exclude) : null;
    const results: WireResult[] = [];
    for (const root of job.roots) {
      try {
        const state = start(wfs, root, job.options.oneFileSystem, exclude);
        while (!step(wfs, state, job.options.sliceEntries)) {
          if (Atomics.load(job.abort, 0) !== 0) {
            parentPort.postMessage({ id: job.id, aborted: true });
            return;
          }
        }
        results.push({ ok: true, usage: state.usage });
      } catch (err) {
        const e = err as { message?: string; code?: string } | null;
        results.push({ ok: false, message: String(e?.message ?? err), ...(e?.code ? { code: e.code } : {}) });
      }
      if (Atomics.load(job.abort, 0) !== 0) {
        parentPort.postMessage({ id: job.id, aborted: true });
        return;
      }
    }
    parentPort.postMessage({ id: job.id, results });
  });
}

/** `__name`: what a bundler's keep-names transform may call inside the serialised functions. */
function workerSource(): string {
  return [
    'var __name = (f) => f;',
    `const startWalk = ${startWalk.toString()};`,
    `const stepWalk = ${stepWalk.toString()};`,
    `(${workerMain.toString()})(require, startWalk, stepWalk);`,
  ].join('\n');
}

function toError(r: { message: string; code?: string }): Error {
  const err = new Error(r.message) as Error & { code?: string };
  if (r.code) err.code = r.code;
  return err;
}

function fromNative(r: NativeTreeResult): TreeUsage | Error {
  return 'error' in r ? toError({ message: r.error, code: r.code }) : r;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  idle: ReturnType<typeof setTimeout> | null;
}

/**
 * Runs up to `size` walk jobs at once, highest priority first. With the native walker
 * (native/walk.c) each job runs on libuv's thread pool and no worker exists; otherwise on
 * worker threads running the JavaScript walk, which start on demand and exit when idle (none
 * keeps the process alive; one that dies fails its job and is replaced on the next one).
 */
export class WalkPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private nativeRunning = 0;

  constructor(
    readonly size: number,
    private readonly native: NativeWalk | null = null,
  ) {}

  /** Which walk the jobs run: the native walker, or the JavaScript one on worker threads. */
  get walker(): 'native' | 'workers' {
    return this.native ? 'native' : 'workers';
  }

  run(roots: string[], options: JobOptions, signal?: AbortSignal, priority = 0): Promise<(TreeUsage | Error)[]> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('walk aborted'));
    return new Promise((resolve, reject) => {
      const abort = new Int32Array(new SharedArrayBuffer(4));
      const job: Job = { id: this.nextId++, priority, roots, options, abort, resolve, reject };
      const onAbort = () => {
        Atomics.store(abort, 0, 1);
        const queued = this.queue.indexOf(job);
        if (queued >= 0) this.queue.splice(queued, 1);
        reject(signal?.reason ?? new Error('walk aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      job.resolve = (r) => {
        done();
        resolve(r);
      };
      job.reject = (e) => {
        done();
        reject(e);
      };
      const at = this.queue.findIndex((q) => q.priority < priority);
      this.queue.splice(at < 0 ? this.queue.length : at, 0, job);
      this.dispatch();
    });
  }

  /** Worker threads currently running, busy or idle. */
  get started(): number {
    return this.slots.length;
  }

  /**
   * Starts every worker now, so their start-up (about 40 ms for two) overlaps what the caller
   * does before its first walk (a first scan's API lists). Idle workers exit as usual.
   */
  prestart(): void {
    if (this.native) return;
    while (this.slots.length < this.size) this.release(this.spawn());
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      if (this.native) {
        if (this.nativeRunning >= this.size) return;
        this.runNative(this.native, this.queue.shift() as Job);
        continue;
      }
      let slot = this.slots.find((s) => s.job === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift() as Job;
      if (slot.idle) clearTimeout(slot.idle);
      slot.idle = null;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, roots: job.roots, options: job.options, abort: job.abort });
    }
  }

  private runNative(native: NativeWalk, job: Job): void {
    this.nativeRunning += 1;
    const finish = () => {
      this.nativeRunning -= 1;
      this.dispatch();
    };
    try {
      native.walk(job.roots, job.options.oneFileSystem, job.options.exclude ?? [], job.abort, (aborted, results) => {
        if (results && !aborted) job.resolve(results.map(fromNative));
        else job.reject(new Error('walk aborted'));
        finish();
      });
    } catch (err) {
      job.reject(err as Error);
      finish();
    }
  }

  private spawn(): Slot {
    // Loaded on first use: `run` walks on its own thread and never pays for worker_threads.
    const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const worker = new Worker(workerSource(), { eval: true, stdout: false, stderr: false });
    worker.unref();
    const slot: Slot = { worker, job: null, idle: null };
    worker.on('message', (msg: { id: number; aborted?: boolean; results?: WireResult[] }) => {
      const job = slot.job;
      if (!job || job.id !== msg.id) return;
      slot.job = null;
      if (msg.results) job.resolve(msg.results.map((r) => (r.ok ? r.usage : toError(r))));
      else job.reject(new Error('walk aborted'));
      this.release(slot);
    });
    const fail = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (slot.idle) clearTimeout(slot.idle);
      slot.job?.reject(err);
      slot.job = null;
      this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`walk worker exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }

  private release(slot: Slot): void {
    this.dispatch();
    if (slot.job !== null) return;
    slot.idle = setTimeout(() => {
      if (slot.job !== null) return;
      // Out of the pool before it exits: a job dispatched between terminate() and the exit
      // event would otherwise go to a dying worker and fail with it.
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      void slot.worker.terminate();
    }, IDLE_EXIT_MS);
    slot.idle.unref();
  }
}

let shared: WalkPool | null = null;
let sharedNative: WalkPool | null = null;
let workersAllowed = true;

/**
 * Whether walks may run side by side on worker threads (the default). `run` turns this off: a
 * background pass gains nothing from finishing sooner on a second core, and each worker's
 * isolate leaves megabytes resident after it exits (5 MB less steady RSS without them,
 * bench/scan.ts). With the native walker that means one walk at a time, still off the event
 * loop; without it, walks run on the calling thread in slices.
 */
export function allowWalkWorkers(allowed: boolean): void {
  workersAllowed = allowed;
}

function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * The process-wide pool: native walks when the walker loads (fs/native-walk.ts), else worker
 * threads; null without the native walker on a single core (a worker there only adds
 * overhead) or when workers are turned off.
 */
export function walkPool(): WalkPool | null {
  const native = nativeWalk();
  if (native) {
    const size = workersAllowed ? Math.min(MAX_WALK_WORKERS, cores()) : 1;
    if (sharedNative?.size !== size) sharedNative = new WalkPool(size, native);
    return sharedNative;
  }
  if (!workersAllowed || cores() < 2) return null;
  shared ??= new WalkPool(Math.min(MAX_WALK_WORKERS, cores()));
  return shared;
}
