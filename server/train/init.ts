// Initial values of a new adapter set, as LaVIN initialises its modules:
// - MM-adapters (RepAdapter_Router): conv_A Xavier-uniform, conv_B / conv_D weights and all biases
//   zero (so every adapter starts as the identity); expert_weights nn.Linear's default
//   (kaiming_uniform a=sqrt(5) => U(+-1/sqrt(fan_in)) for weight and bias);
// - adapter_proj (AdapterMLP): conv_A and conv_B Xavier-uniform, biases zero;
// - adapter_modality_embedding (nn.Embedding): N(0, 1).

import { numel } from '../engine/tensor';
import { Rng } from './rng';

function xavier(shape: number[], rng: Rng): Float32Array {
  // PyTorch fans: fan_in = shape[1] * receptive, fan_out = shape[0] * receptive.
  const receptive = shape.slice(2).reduce((p, d) => p * d, 1);
  const bound = Math.sqrt(6 / (shape[1] * receptive + shape[0] * receptive));
  return Float32Array.from({ length: numel(shape) }, () => (2 * rng.next() - 1) * bound);
}

function uniform(n: number, bound: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * bound);
}

function normal(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => {
    const u = 1 - rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  });
}

/** Fresh values for every adapter parameter, given the names and shapes of an existing set. */
export function initAdapterTensors(shapes: ReadonlyMap<string, number[]>, rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    const n = numel(shape);
    let v: Float32Array;
    if (name.endsWith('.bias') && name.includes('expert_weights')) {
      const fanIn = shapes.get(name.replace(/\.bias$/, '.weight'))?.[1] ?? 1;
      v = uniform(n, 1 / Math.sqrt(fanIn), rng);
    } else if (name.endsWith('.bias')) v = new Float32Array(n);
    else if (name.includes('expert_weights')) v = uniform(n, 1 / Math.sqrt(shape[1]), rng);
    else if (/\.adapter_(attn|mlp)\.conv_A\.weight$/.test(name) || name.startsWith('adapter_proj.')) v = xavier(shape, rng);
    else if (name.endsWith('conv_B.weight') || name.endsWith('conv_D.weight')) v = new Float32Array(n);
    else if (name === 'adapter_modality_embedding.weight') v = normal(n, rng);
    else throw new Error(`adapter init: no rule for parameter ${name} [${shape}]`);
    out.set(name, v);
  }
  return out;
}

/** Router weights [expert 0, expert 1] of the modality token in every LLM block, for a text and an image request. */
export interface RouteProbe {
  (set: ReadonlyMap<string, Float32Array>): Promise<{ text: number[][]; image: number[][] }>;
}

/**
 * How surely each modality keeps to its expert: the other expert's weight is 1 / (1 + e^ROUTE_MARGIN),
 * about 4e-18, too small to change a float32 sum next to the identity path, so text-only requests
 * compute what they computed before training. At 16 (1e-7) the image expert's growing conv_D still
 * leaked through: on the d512 bench shape after 60 steps, 4 of 10 text prompts changed their greedy
 * tokens (first-token KL 1e-4); at 40, 10 of 10 kept them (KL 0) with the same training losses
 * (bench/visionTraining.js --shape d512 --train 96 --test 8 --steps 60).
 */
const ROUTE_MARGIN = 40;

/**
 * Names that stay at their starting values when routes are separated: expert 0's up-projection
 * (conv_B, zero: the identity) of both adapters of a block, the LLM routers and the modality embedding. Text-only requests then
 * run identity adapters whatever image training does to the rest (conv_A and conv_D feed expert 1
 * only, CLIP's adapters and adapter_proj only images).
 */
export function heldBySeparatedRoutes(name: string): boolean {
  return /^layers\.\d+\.(adapter_attn\.(conv_B|expert_weights)|adapter_mlp\.conv_B)\./.test(name) || name === 'adapter_modality_embedding.weight';
}

/**
 * Sets the LLM routers of a fresh set (identity adapters) so that the text modality token routes
 * to expert 0 and the image one to expert 1, each with weight 1 - 4e-18. LaVIN's router reads the
 * normalised modality token n_l of block l: logits = E n_l + b, weights = softmax(logits / t). With
 * identity adapters n_l does not depend on the routers, so n_l is measured through the model
 * itself: with E's rows (0, r) and b = 0, t * ln(w1 / w0) = r . n_l. Of a few random unit
 * directions r the one that parts the two modalities most is kept, and scaled and shifted so that
 * text lands at -ROUTE_MARGIN * t and image at +ROUTE_MARGIN * t.
 */
export async function separateRoutes(set: Map<string, Float32Array>, nLayers: number, temperature: number, probe: RouteProbe, rng: Rng, tries = 4): Promise<void> {
  const dim = set.get('layers.0.adapter_attn.expert_weights.weight')!.length / 2;
  const best: { r: Float32Array; text: number; image: number }[] = [];
  for (let k = 0; k < tries; k++) {
    const rs: Float32Array[] = [];
    for (let l = 0; l < nLayers; l++) {
      const r = normal(dim, rng);
      const norm = Math.hypot(...r);
      for (let i = 0; i < dim; i++) r[i] /= norm;
      rs.push(r);
      setRouter(set, l, r, 1, 0);
    }
    const routes = await probe(set);
    const logitGap = (w: number[]) => temperature * Math.log(w[1] / w[0]);
    for (let l = 0; l < nLayers; l++) {
      const text = logitGap(routes.text[l]);
      const image = logitGap(routes.image[l]);
      if (!Number.isFinite(text) || !Number.isFinite(image)) continue;
      if (!best[l] || Math.abs(image - text) > Math.abs(best[l].image - best[l].text)) best[l] = { r: rs[l], text, image };
    }
  }
  for (let l = 0; l < nLayers; l++) {
    const b = best[l];
    if (!b || Math.abs(b.image - b.text) < 1e-6) throw new Error(`adapter init: the text and image modality tokens cannot be told apart in block ${l}`);
    const scale = (2 * ROUTE_MARGIN * temperature) / (b.image - b.text);
    setRouter(set, l, b.r, scale, -ROUTE_MARGIN * temperature - scale * b.text);
  }
}

/** Router of block l: expert 0's logit 0, expert 1's scale * (r . n) + shift. */
function setRouter(set: Map<string, Float32Array>, l: number, r: Float32Array, scale: number, shift: number): void {
  const w = set.get(`layers.${l}.adapter_attn.expert_weights.weight`)!;
  const b = set.get(`layers.${l}.adapter_attn.expert_weights.bias`)!;
  const dim = r.length;
  w.fill(0);
  for (let i = 0; i < dim; i++) w[dim + i] = scale * r[i];
  b[0] = 0;
  b[1] = shift;
}
