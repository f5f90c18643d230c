// A tiny random-weight LLaMA backbone as a Q4_0 GGUF (64 x 2, grouped-query attention, 320-token
// vocabulary): big enough for the vision path and training to run, small enough for a test.

import { writeLlamaGguf } from '../../bench/gguf';

export function writeTinyBackboneGguf(file: string): void {
  let k = 1;
  writeLlamaGguf(file, {
    name: 'vision-tiny', dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnHidden: 128, vocab: 320, normEps: 1e-6, contextLength: 256, type: 'q4_0',
    values: (name, shape) => {
      let s = (k++ * 7919) >>> 0;
      const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
      const r = Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
      if (name.endsWith('norm.weight')) return r.map((v) => 1 + 0.1 * v);
      return r.map((v) => v * (name === 'tok_embeddings.weight' || name === 'output.weight' ? 0.6 : 0.8 / Math.sqrt(shape[1])));
    },
  });
}
