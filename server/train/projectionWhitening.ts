// Training the visual projection in whitened coordinates of the CLIP class-token taps. The taps of
// a CLIP are badly conditioned (lavin-tiny's random ViT: covariance eigenvalues from 6e-4 to 49),
// and what tells an image's left from its right lies in their small directions: a linear read-out
// trained by Adam on the raw taps stays at chance where the same read-out on whitened taps gets
// 75 % (report of issue 14). So the optimizer holds V with adapter_proj.conv_A = V Wh and
// conv_A.bias = b - conv_A mean: the projection computes V Wh (taps - mean) + b, the graphs and
// the saved set see plain conv_A / bias (nothing changes at inference), and only the optimizer's
// coordinates move. Wh = (C + eps I)^(-1/2) (ZCA: it keeps the taps' own axes, which Adam's
// per-coordinate steps are not indifferent to) from the taps of the training images through the
// starting set; the CLIP adapters are held while it applies, so those statistics stay true.
// One Wh cannot whiten taps of six depths at once (the same probe: 75 % with one shared by the
// taps, 88-92 % with each tap's own): a fresh vision set gives each tap its own input layer
// (lavin.ts tapProjection), whitened by that tap's statistics when the images are enough.

import { tapProjection } from '../engine/lavin';

/** The shared input layer of the visual projection (LaVIN's conv_A). */
export const PROJECTION_IN = 'adapter_proj.conv_A.weight';
export const PROJECTION_IN_BIAS = 'adapter_proj.conv_A.bias';

export interface TapWhitening {
  /** Tap width W. */
  width: number;
  /** [W] mean of the taps. */
  mean: Float32Array;
  /** [W, W] symmetric (C + eps I)^(-1/2). */
  whiten: Float32Array;
}

/** Eigenvalues below this share of the mean eigenvalue are lifted to it (keeps Wh bounded: at most 100x). */
const RELATIVE_EPS = 1e-4;

/** Statistics of taps given as rows [rows, W] (all images' taps, each tap a row: conv_A is shared by the taps). */
export function tapWhitening(rows: Float32Array, width: number): TapWhitening {
  const n = rows.length / width;
  if (!Number.isInteger(n) || n < 2) throw new Error(`projection whitening: needs at least two taps of width ${width}, got ${rows.length} values`);
  const mean = new Float64Array(width);
  for (let r = 0; r < n; r++) for (let j = 0; j < width; j++) mean[j] += rows[r * width + j] / n;
  const cov = new Float64Array(width * width);
  const centred = new Float64Array(width);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < width; j++) centred[j] = rows[r * width + j] - mean[j];
    for (let i = 0; i < width; i++) {
      const ci = centred[i] / (n - 1);
      if (ci === 0) continue;
      for (let j = i; j < width; j++) cov[i * width + j] += ci * centred[j];
    }
  }
  for (let i = 0; i < width; i++) for (let j = 0; j < i; j++) cov[i * width + j] = cov[j * width + i];
  const { values, vectors } = symmetricEigen(cov, width);
  const eps = (RELATIVE_EPS * values.reduce((s, v) => s + Math.max(0, v), 0)) / width || 1e-12;
  const lifted = values.map((v) => Math.max(v, 0) + eps);
  return {
    width,
    mean: Float32Array.from(mean),
    whiten: Float32Array.from(spectralProduct(vectors, lifted.map((v) => 1 / Math.sqrt(v)), width)),
  };
}

/** The graph's conv_A [h, W] and bias [h] from the optimizer's V [h, W] and b [h]: A = V Wh, bias = b - A mean. */
export function projectionFromWhitened(w: TapWhitening, v: Float32Array, b: Float32Array): { weight: Float32Array; bias: Float32Array } {
  const weight = rightMultiply(v, w.whiten, w.width);
  const bias = Float32Array.from(b);
  const h = bias.length;
  for (let i = 0; i < h; i++) {
    let s = 0;
    for (let j = 0; j < w.width; j++) s += weight[i * w.width + j] * w.mean[j];
    bias[i] -= s;
  }
  return { weight, bias };
}

/** Gradients in the optimizer's coordinates from those of conv_A and its bias: g_V = (g_A - g_bias mean^T) Wh, g_b = g_bias. */
export function whitenedGradients(w: TapWhitening, gWeight: Float32Array, gBias: Float32Array): { gV: Float32Array; gB: Float32Array } {
  const h = gBias.length;
  const g = Float32Array.from(gWeight);
  for (let i = 0; i < h; i++) for (let j = 0; j < w.width; j++) g[i * w.width + j] -= gBias[i] * w.mean[j];
  return { gV: rightMultiply(g, w.whiten, w.width), gB: gBias };
}

/** M [rows, W] times S [W, W]. */
function rightMultiply(m: Float32Array, s: Float32Array, width: number): Float32Array {
  const rows = m.length / width;
  const out = new Float32Array(m.length);
  const acc = new Float64Array(width);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    for (let k = 0; k < width; k++) {
      const a = m[r * width + k];
      if (a === 0) continue;
      for (let j = 0; j < width; j++) acc[j] += a * s[k * width + j];
    }
    for (let j = 0; j < width; j++) out[r * width + j] = acc[j];
  }
  return out;
}

/** U diag(f) U^T for eigenvectors U (columns of `vectors`, row-major [W, W]). */
function spectralProduct(vectors: Float64Array, f: number[], width: number): Float64Array {
  const out = new Float64Array(width * width);
  for (let k = 0; k < width; k++) {
    for (let i = 0; i < width; i++) {
      const uik = vectors[i * width + k] * f[k];
      if (uik === 0) continue;
      for (let j = i; j < width; j++) out[i * width + j] += uik * vectors[j * width + k];
    }
  }
  for (let i = 0; i < width; i++) for (let j = 0; j < i; j++) out[i * width + j] = out[j * width + i];
  return out;
}

/**
 * Eigen-decomposition of a symmetric matrix: Householder reduction to tridiagonal form, then the
 * implicit QL iteration (the classic tred2 / tql2 pair, as in EISPACK and JAMA). O(W^3) with a
 * small constant: a ViT-L's 1024 wide taps take seconds where cyclic Jacobi took minutes. Returns
 * the eigenvalues and the eigenvectors as the columns of a row-major [W, W] matrix.
 */
export function symmetricEigen(matrix: Float64Array, width: number): { values: number[]; vectors: Float64Array } {
  const n = width;
  const V = Float64Array.from(matrix);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(V, d, e, n);
  // The QL rotations act on pairs of columns: on the transpose they read contiguous rows.
  const rows = transposeSquare(V, n);
  tridiagonalQl(rows, d, e, n);
  return { values: Array.from(d), vectors: transposeSquare(rows, n) };
}

/** tred2: V <- the orthogonal Q with Q^T A Q tridiagonal; d its diagonal, e its sub-diagonal (e[0] = 0). */
function tridiagonalize(V: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      // The Householder vector of row i.
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // The similarity transformation of the remaining columns.
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j * n + i] = f;
        g = e[j] + V[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j] * d[k];
          e[k] += V[k * n + j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[k * n + j] -= f * e[k] + g * d[k];
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i];
    V[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1] * V[k * n + j];
        for (let k = 0; k <= i; k++) V[k * n + j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j];
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

function transposeSquare(m: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = m[i * n + j];
  return t;
}

/** tql2: the eigenvalues of the tridiagonal (d, e) into d, its rotations applied to the rows of Vt (V's transpose). */
function tridiagonalQl(Vt: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      for (let iter = 0; ; iter++) {
        if (iter > 60) throw new Error('projection whitening: the eigen-decomposition did not converge');
        // The implicit shift.
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        // The implicit QL transformation.
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const a = i * n;
          const b = a + n;
          for (let k = 0; k < n; k++) {
            h = Vt[b + k];
            Vt[b + k] = s * Vt[a + k] + c * h;
            Vt[a + k] = c * Vt[a + k] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (Math.abs(e[l]) <= eps * tst1) break;
      }
    }
    d[l] += f;
    e[l] = 0;
  }
}

/** The optimizer's extra tensors of a whitened layer, in snapshot() order, after its prefix. */
const SNAPSHOT_KEYS = ['mean', 'whiten', 'V', 'b'];
/** The shared conv_A's prefix (runs from before the taps' own layers saved this alone), and tap k's. */
const SHARED_PREFIX = 'whitening.';
const tapPrefix = (k: number) => `whitening.taps.${k}.`;

/** One input layer trained in whitened coordinates: its tensors, the statistics of the taps it reads, and its V and b. */
interface WhitenedLayer {
  weight: string;
  bias: string;
  prefix: string;
  stats: TapWhitening;
  v: Float32Array;
  b: Float32Array;
}

/**
 * The optimizer's view of a training set's projection: for each input layer it trains (the taps'
 * own, lavin.ts tapProjection, or the shared conv_A) it holds V and b, hands AdamW those and their
 * gradients in place of the layer's weight / bias, and writes them back after each step.
 */
export class WhitenedProjection {
  private constructor(private readonly layers: WhitenedLayer[]) {}

  /**
   * Start: each trained input layer's starting weight / bias are taken as V and b (Xavier in
   * whitened coordinates, where the taps have unit variance). `stats`: one per tap, or one for
   * every tap (pooled, when the images are too few for each tap's own); undefined when no input
   * layer trains.
   */
  static start(stats: readonly TapWhitening[], params: Map<string, Float32Array>, trains: (name: string) => boolean): WhitenedProjection | undefined {
    const layers: WhitenedLayer[] = [];
    const add = (weight: string, bias: string, prefix: string, s: () => TapWhitening) => {
      if (trains(weight) && trains(bias)) layers.push({ weight, bias, prefix, stats: s(), v: Float32Array.from(projectionTensor(params, weight)), b: Float32Array.from(projectionTensor(params, bias)) });
    };
    for (let k = 0; params.has(tapProjection(k, 'weight')); k++) add(tapProjection(k, 'weight'), tapProjection(k, 'bias'), tapPrefix(k), () => stats[k] ?? stats[0]);
    if (params.has(PROJECTION_IN)) add(PROJECTION_IN, PROJECTION_IN_BIAS, SHARED_PREFIX, () => (stats.length === 1 ? stats[0] : pooledStatsUnavailable()));
    if (layers.length === 0) return undefined;
    const p = new WhitenedProjection(layers);
    p.writeBack(params);
    return p;
  }

  /** Resume from what snapshot() saved. */
  static resume(extra: ReadonlyMap<string, { values: Float32Array; shape: number[] }>): WhitenedProjection | undefined {
    const layers: WhitenedLayer[] = [];
    const add = (weight: string, bias: string, prefix: string) => {
      const [mean, whiten, v, b] = SNAPSHOT_KEYS.map((k) => extra.get(prefix + k)?.values);
      if (mean && whiten && v && b) layers.push({ weight, bias, prefix, stats: { width: mean.length, mean, whiten }, v: v.slice(), b: b.slice() });
    };
    for (let k = 0; extra.has(tapPrefix(k) + 'mean'); k++) add(tapProjection(k, 'weight'), tapProjection(k, 'bias'), tapPrefix(k));
    add(PROJECTION_IN, PROJECTION_IN_BIAS, SHARED_PREFIX);
    return layers.length ? new WhitenedProjection(layers) : undefined;
  }

  /** Whether a saved optimizer's extra tensors (by name) hold a snapshot: the run trained whitened. */
  static savedIn(extraNames: readonly string[]): boolean {
    return [SHARED_PREFIX, tapPrefix(0)].some((prefix) => SNAPSHOT_KEYS.every((k) => extraNames.includes(prefix + k)));
  }

  snapshot(): Map<string, { values: Float32Array; shape: number[] }> {
    const out = new Map<string, { values: Float32Array; shape: number[] }>();
    for (const { prefix, stats, v, b } of this.layers) {
      const W = stats.width;
      out.set(prefix + 'mean', { values: stats.mean, shape: [W] });
      out.set(prefix + 'whiten', { values: stats.whiten, shape: [W, W] });
      out.set(prefix + 'V', { values: v, shape: [v.length / W, W] });
      out.set(prefix + 'b', { values: b, shape: [b.length] });
    }
    return out;
  }

  /** AdamW's parameters and gradients: each layer's V and b (and their gradients by the chain rule) in place of its weight and bias. */
  optimizerView(params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>): { params: Map<string, Float32Array>; grads: Map<string, Float32Array> } {
    const p = new Map(params);
    const g = new Map(grads);
    for (const layer of this.layers) {
      const { gV, gB } = whitenedGradients(layer.stats, projectionTensor(grads, layer.weight), projectionTensor(grads, layer.bias));
      p.set(layer.weight, layer.v).set(layer.bias, layer.b);
      g.set(layer.weight, gV).set(layer.bias, gB);
    }
    return { params: p, grads: g };
  }

  /** weight = V Wh, bias = b - weight mean, into the set's tensors. */
  writeBack(params: Map<string, Float32Array>): void {
    for (const layer of this.layers) {
      const { weight, bias } = projectionFromWhitened(layer.stats, layer.v, layer.b);
      params.set(layer.weight, weight).set(layer.bias, bias);
    }
  }
}

function pooledStatsUnavailable(): never {
  throw new Error('projection whitening: the shared input layer needs statistics pooled over the taps, got one per tap');
}

function projectionTensor(m: ReadonlyMap<string, Float32Array>, name: string): Float32Array {
  const t = m.get(name);
  if (!t) throw new Error(`projection whitening: no ${name}`);
  return t;
}
