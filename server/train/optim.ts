// AdamW with LaVIN's parameter groups and learning-rate schedule, over host Float32Arrays.
//
// - Groups (timm `add_weight_decay`, used by LaVIN's train.py): no weight decay for 1-D parameters
//   and names ending in `.bias`; weight decay 0.02 for the rest.
// - Update (torch.optim.AdamW): p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Moments and arithmetic in float64
//   per element, stored as float32 like PyTorch's fp32 state.
// - Schedule (util/lr_sched.adjust_learning_rate, MAE-style): evaluated at a fractional epoch
//   (iteration / iterations-per-epoch + epoch); linear warm-up to lr, then half-cosine to min_lr.

export interface AdamWOptions {
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export const LAVIN_ADAMW: Required<AdamWOptions> = { betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.02 };

/** Whether a parameter gets weight decay (timm add_weight_decay). */
export function decays(name: string, shape: readonly number[]): boolean {
  return !(shape.length <= 1 || name.endsWith('.bias'));
}

export interface AdamWState {
  step: number;
  /** First and second moments per parameter. */
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  readonly options: Required<AdamWOptions>;
  state: AdamWState;

  constructor(
    private readonly shapes: ReadonlyMap<string, readonly number[]>,
    options: AdamWOptions = {},
  ) {
    this.options = { ...LAVIN_ADAMW, ...options };
    const zeros = () => new Map([...shapes].map(([k, s]) => [k, new Float32Array(s.reduce((p, d) => p * d, 1))]));
    this.state = { step: 0, m: zeros(), v: zeros() };
  }

  /** One update of every parameter in place with learning rate lr. */
  step(params: Map<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>, lr: number): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`AdamW: learning rate must be a finite number >= 0, got ${lr}`);
    const { betas: [b1, b2], eps, weightDecay } = this.options;
    const t = ++this.state.step;
    const bc1 = 1 - b1 ** t;
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const stepSize = lr / bc1;
    for (const [name, shape] of this.shapes) {
      const p = params.get(name);
      const g = grads.get(name);
      if (!p || !g) throw new Error(`AdamW: no ${!p ? 'value' : 'gradient'} for parameter ${name}`);
      if (p.length !== g.length) throw new Error(`AdamW: ${name} has ${p.length} values but ${g.length} gradient values`);
      const m = this.state.m.get(name)!;
      const v = this.state.v.get(name)!;
      const decay = decays(name, shape) ? 1 - lr * weightDecay : 1;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i];
        if (!Number.isFinite(gi)) throw new Error(`AdamW: gradient of ${name}[${i}] is ${gi}`);
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] = p[i] * decay - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
      }
    }
  }
}

export interface ScheduleOptions {
  /** Peak learning rate; default baseLr * effectiveBatch / 256. */
  lr?: number;
  /** LaVIN's blr (9e-3). */
  baseLr?: number;
  /** Examples per optimizer step (batch x accumulation x devices). */
  effectiveBatch: number;
  epochs: number;
  warmupEpochs: number;
  minLr?: number;
}

export const LAVIN_BASE_LR = 9e-3;

export function peakLr(s: ScheduleOptions): number {
  return s.lr ?? ((s.baseLr ?? LAVIN_BASE_LR) * s.effectiveBatch) / 256;
}

/** The learning rate at a fractional epoch (iteration / iterations per epoch + epoch). */
export function learningRate(s: ScheduleOptions, epoch: number): number {
  const lr = peakLr(s);
  const minLr = s.minLr ?? 0;
  if (epoch < s.warmupEpochs) return (lr * epoch) / s.warmupEpochs;
  const span = s.epochs - s.warmupEpochs;
  if (span <= 0) return lr;
  return minLr + (lr - minLr) * 0.5 * (1 + Math.cos((Math.PI * (epoch - s.warmupEpochs)) / span));
}

/** Sums gradients of micro-batches; the caller scales each (e.g. 1 / accumulation steps). */
export class GradientAccumulator {
  readonly sum: Map<string, Float32Array>;
  count = 0;

  constructor(shapes: ReadonlyMap<string, readonly number[]>) {
    this.sum = new Map([...shapes].map(([k, s]) => [k, new Float32Array(s.reduce((p, d) => p * d, 1))]));
  }

  add(grads: ReadonlyMap<string, Float32Array>, scale = 1): void {
    for (const [name, acc] of this.sum) {
      const g = grads.get(name);
      if (!g) throw new Error(`gradient accumulation: no gradient for ${name}`);
      for (let i = 0; i < acc.length; i++) acc[i] += scale * g[i];
    }
    this.count++;
  }

  reset(): void {
    for (const acc of this.sum.values()) acc.fill(0);
    this.count = 0;
  }
}
