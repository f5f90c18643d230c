// One queue per model: jobs run one at a time, in arrival order, so a generation, a training run,
// a reload or an adapter swap never interleave on the same weights and KV cache.
// Generations that arrive while training holds the model are rejected (or wait, by policy).

import { HostActivity, LavinErrorCodes } from '../protocol';
import { busy, cancelled, HostError } from './errors';

export type JobKind = Exclude<HostActivity, 'idle'>;

export interface JobOptions {
  /** Aborting it removes a waiting job (it rejects with RequestCancelled) or is passed to a running one. */
  signal?: AbortSignal;
  /** What a generation does while training holds the model. */
  whileTraining?: 'reject' | 'wait';
  /** Names the job in Busy messages, e.g. "training adapter set docs". */
  label?: string;
}

interface Waiting {
  kind: JobKind;
  start: () => void;
  fail: (err: Error) => void;
}

export class ModelQueue {
  private running: JobKind | null = null;
  private runningLabel = '';
  private readonly waiting: Waiting[] = [];

  constructor(
    private readonly maxWaiting = 16,
    private readonly onChange: () => void = () => {},
  ) {}

  get activity(): HostActivity {
    return this.running ?? 'idle';
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Run `job` when the model is free; `label` names it in Busy messages ("training adapter set docs"). */
  async run<T>(kind: JobKind, job: () => Promise<T>, opts: JobOptions = {}): Promise<T> {
    const { signal } = opts;
    if (signal?.aborted) throw cancelled('the request');
    if (kind === 'generating' && this.trainingHoldsModel() && (opts.whileTraining ?? 'reject') === 'reject') {
      throw busy(`The model is busy ${this.runningLabel || 'training'}; chat is available again when training finishes or is cancelled.`, 'training');
    }
    if (this.running !== null || this.waiting.length > 0) {
      if (this.waiting.length >= this.maxWaiting) {
        throw new HostError(LavinErrorCodes.QueueFull, `${this.waiting.length} requests are already waiting for the model; try again later`);
      }
      await this.wait(kind, signal);
    }
    this.running = kind;
    this.runningLabel = opts.label ?? '';
    this.onChange();
    try {
      return await job();
    } finally {
      this.running = null;
      this.runningLabel = '';
      this.next();
    }
  }

  private trainingHoldsModel(): boolean {
    return this.running === 'training' || this.waiting.some((w) => w.kind === 'training');
  }

  private wait(kind: JobKind, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: Waiting = {
        kind,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: reject,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        this.onChange();
        reject(cancelled('the request'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
      this.onChange();
    });
  }

  private next(): void {
    const entry = this.waiting.shift();
    if (!entry) {
      this.onChange();
      return;
    }
    // Claim the slot now, so a request arriving before the waiter resumes cannot jump the queue.
    this.running = entry.kind;
    entry.start();
  }
}
