// The one-time cost of a fresh vision run's projection whitening (server/train/projectionWhitening.ts):
// the statistics of 2W taps of width W (what a run gathers at least), split into the covariance and
// the eigen-decomposition, for CLIP widths from lavin-tiny's (48) to ViT-L's (1024).
//
//   node out/bench/projectionWhitening.js [widths, default 48,256,1024]

import { symmetricEigen, tapWhitening } from '../server/train/projectionWhitening';
import { Rng } from '../server/train/rng';

const widths = (process.argv[2] ?? '48,256,1024').split(',').map(Number);
console.log('| width | taps | statistics (s) | of which eigen-decomposition (s) |');
console.log('|---|---|---|---|');
for (const W of widths) {
  const rng = new Rng(W);
  const rows = 2 * W;
  // A few loud feature directions, as a CLIP's residual stream has.
  const taps = Float32Array.from({ length: rows * W }, (_, k) => (rng.next() - 0.5) * (k % W < 4 ? 20 : 1));
  let t = performance.now();
  tapWhitening(taps, W);
  const total = (performance.now() - t) / 1000;
  const m = new Float64Array(W * W);
  for (let i = 0; i < W; i++) for (let j = i; j < W; j++) m[i * W + j] = m[j * W + i] = rng.next() - 0.5;
  t = performance.now();
  symmetricEigen(m, W);
  console.log(`| ${W} | ${rows} | ${total.toFixed(2)} | ${((performance.now() - t) / 1000).toFixed(2)} |`);
}
