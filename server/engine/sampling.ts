// Next-token choice as in LaVIN's generator.py: greedy argmax at temperature 0, otherwise
// softmax(logits / T) then sample_top_p. The draw cannot reproduce torch.multinomial's stream; the
// distribution it samples from is the reference's. Probabilities are computed in float64.

function checkLogits(logits: Float32Array, what: string): void {
  if (logits.length === 0) throw new RangeError(`${what}: logits are empty`);
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (Number.isNaN(v) || v === Infinity) throw new RangeError(`${what}: logit ${i} is ${v} (model output is broken)`);
  }
}

/** Index of the largest logit; the first one on ties (as torch.argmax). */
export function argmax(logits: Float32Array): number {
  if (logits.length === 0) throw new RangeError('argmax: logits are empty');
  // One pass that also watches for broken values (a separate check pass cost 10% of a d512 decode step).
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > bestValue) {
      best = i;
      bestValue = v;
    } else if (v !== v) checkLogits(logits, 'argmax'); // NaN: throws, naming the first bad logit
  }
  if (bestValue === Infinity) checkLogits(logits, 'argmax');
  if (bestValue === -Infinity) throw new RangeError('argmax: every logit is -Infinity');
  return best;
}

/**
 * sample_top_p(softmax(logits / temperature), topP): sort descending, drop every token whose preceding
 * cumulative probability already exceeds topP (mask = cumsum - p > topP), renormalise, draw one.
 * temperature 0 is greedy. rng returns uniform numbers in [0, 1).
 */
export function sampleTopP(logits: Float32Array, temperature: number, topP: number, rng: () => number): number {
  if (!(temperature >= 0) || temperature === Infinity) throw new RangeError(`temperature must be finite and >= 0, got ${temperature}`);
  if (!(topP >= 0)) throw new RangeError(`top-p must be >= 0, got ${topP}`);
  if (temperature === 0) return argmax(logits);
  const probs = softmax(logits, temperature);
  const kept = topPCandidates(probs, topP);
  let total = 0;
  for (const i of kept) total += probs[i];
  const u = rng();
  if (!(u >= 0 && u < 1)) throw new RangeError(`rng must return a number in [0, 1), got ${u}`);
  const target = u * total;
  let cum = 0;
  for (const i of kept) {
    cum += probs[i];
    if (target < cum) return i;
  }
  return kept[kept.length - 1]; // rounding: u * total landed on the very top
}

/** softmax(logits / temperature) in float64. */
export function softmax(logits: Float32Array, temperature = 1): Float64Array {
  checkLogits(logits, 'softmax');
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity) throw new RangeError('softmax: every logit is -Infinity');
  const out = new Float64Array(logits.length);
  const scaledMax = max / temperature;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i] / temperature - scaledMax);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * The tokens top-p keeps, in ascending id order (the order of the draw does not change its distribution).
 * The reference sorts all probabilities, takes cumsums and masks where (cumsum - p) > topP; that keeps
 * a most-probable prefix. Here only tokens with p >= t are looked at, for a t where those tokens
 * already hold more than topP (every token below t comes later in the sorted order, so it is masked),
 * found with one pass that sums the mass per power-of-two band below the maximum. Their values are
 * sorted natively to find where the mask starts; ties at that boundary go to the lower ids.
 */
export function topPCandidates(probs: Float64Array, topP: number): number[] {
  let max = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > max) max = probs[i];
  const BANDS = 64;
  const bandMass = new Float64Array(BANDS);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (p > 0) {
      const band = Math.floor(Math.log2(max / p));
      if (band < BANDS) bandMass[band] += p;
    }
  }
  let threshold = 0;
  let mass = 0;
  for (let band = 0; band < BANDS - 1; band++) {
    mass += bandMass[band];
    // Margins: one band for log2 rounding, 1e-9 so summation order cannot flip the mask.
    if (mass > topP + 1e-9) {
      threshold = max * 2 ** -(band + 2);
      break;
    }
  }
  let n = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] >= threshold && probs[i] > 0) n++;
  const values = new Float64Array(n);
  n = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] >= threshold && probs[i] > 0) values[n++] = probs[i];
  values.sort(); // ascending; walk it from the top
  let keptCount = 0;
  let cumsum = 0;
  for (let j = n - 1; j >= 0; j--) {
    cumsum += values[j];
    if (cumsum - values[j] > topP) break; // the reference's mask, same arithmetic
    keptCount++;
  }
  const smallestKept = values[n - keptCount];
  let tiesToKeep = 0;
  for (let j = n - keptCount; j < n && values[j] === smallestKept; j++) tiesToKeep++;
  const kept: number[] = [];
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (p > smallestKept) kept.push(i);
    else if (p === smallestKept && tiesToKeep > 0) {
      kept.push(i);
      tiesToKeep--;
    }
  }
  return kept;
}

/**
 * Seeded uniform [0, 1) generator: xoshiro128** (Blackman & Vigna). Its 128-bit state is filled from
 * the seed by a golden-ratio counter through MurmurHash3's fmix32 finaliser (splitmix-style), so nearby
 * seeds give unrelated streams. Deterministic across runs and platforms.
 */
export function createRng(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new RangeError(`rng seed must be a finite number, got ${seed}`);
  // Fold the seed's high bits in, so seeds above 2^32 still differ.
  let x = (Math.trunc(seed) >>> 0) ^ (Math.floor(Math.abs(seed) / 2 ** 32) >>> 0);
  const seedWord = (): number => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const next = xoshiro128ss([seedWord(), seedWord(), seedWord(), seedWord()]);
  return () => next() / 2 ** 32;
}

/** Raw xoshiro128** over a given state (not all zero); returns uint32 outputs. */
export function xoshiro128ss(state: [number, number, number, number]): () => number {
  let [s0, s1, s2, s3] = state.map((v) => v >>> 0);
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is a fixed point
  const rotl = (v: number, k: number): number => (v << k) | (v >>> (32 - k));
  return () => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
}
