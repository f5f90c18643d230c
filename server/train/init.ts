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
    else if (name.endsWith('adapter_attn.conv_A.weight') || name.startsWith('adapter_proj.')) v = xavier(shape, rng);
    else if (name.endsWith('conv_B.weight') || name.endsWith('conv_D.weight')) v = new Float32Array(n);
    else if (name === 'adapter_modality_embedding.weight') v = normal(n, rng);
    else throw new Error(`adapter init: no rule for parameter ${name} [${shape}]`);
    out.set(name, v);
  }
  return out;
}
