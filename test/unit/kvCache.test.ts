// The KV cache: host buffers the decoder reads in place and each step extends by its own rows.
// Decoding token by token (across the buffers' growth) must give the logits of one long prefill.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LavinConfig } from '../../server/engine/lavin';
import { loadModelDir } from '../../server/engine/modelDir';
import { KvCache, LavinRuntime } from '../../server/engine/runtime';
import { fixtureModelDir } from '../golden/fixture';

const cfg = (nLayers: number, nHeads: number, headDim: number): LavinConfig =>
  ({ llama: { nLayers, nHeads, nKvHeads: nHeads, headDim, dim: nHeads * headDim }, maxSeqLen: 512 }) as unknown as LavinConfig;

describe('KvCache', () => {
  test('rows land per head in order, across growth of the buffers', () => {
    const [L, H, hd] = [2, 3, 4];
    const cache = KvCache.empty(cfg(L, H, hd));
    assert.equal(cache.length, 0);
    assert.deepEqual(cache.past(0).key.dims, [1, H, hd, 0]);
    assert.deepEqual(cache.past(0).value.dims, [1, H, 0, hd]);
    // Value of (layer, kind, token, head, i): unique, so any misplaced row shows.
    const val = (l: number, kind: number, t: number, h: number, i: number) => l * 1e6 + kind * 1e5 + t * 100 + h * 10 + i;
    // What a step returns: keys [H, hd, T], values [H, T, hd].
    const keys = (from: number, T: number) =>
      Array.from({ length: L }, (_, l) => Float32Array.from({ length: T * H * hd }, (_, j) => val(l, 0, from + (j % T), Math.floor(j / (hd * T)), Math.floor(j / T) % hd)));
    const values = (from: number, T: number) =>
      Array.from({ length: L }, (_, l) => Float32Array.from({ length: T * H * hd }, (_, j) => val(l, 1, from + (Math.floor(j / hd) % T), Math.floor(j / (T * hd)), j % hd)));
    let t = 0;
    for (const T of [3, 1, 1, 70, 1, 130]) {
      cache.append(keys(t, T), values(t, T), T);
      t += T;
    }
    assert.equal(cache.length, t);
    for (let l = 0; l < L; l++) {
      const { key, value } = cache.past(l);
      const C = value.dims[2];
      assert.ok(C >= t, `capacity ${C} holds ${t} rows`);
      assert.equal(cache.slots, C);
      assert.deepEqual(key.dims, [1, H, hd, C], 'keys are transposed');
      const keys = key.data as Float32Array;
      const values = value.data as Float32Array;
      for (let tok = 0; tok < t; tok++) for (let h = 0; h < H; h++) for (let i = 0; i < hd; i++) {
        assert.equal(keys[(h * hd + i) * C + tok], val(l, 0, tok, h, i), `layer ${l} key of token ${tok} head ${h}`);
        assert.equal(values[(h * C + tok) * hd + i], val(l, 1, tok, h, i), `layer ${l} value of token ${tok} head ${h}`);
      }
    }
  });

  test('a wrong number of added values is refused', () => {
    const cache = KvCache.empty(cfg(1, 2, 4));
    assert.throws(() => cache.append([new Float32Array(7)], [new Float32Array(8)], 1), /layer 0 added 7 values for 1 tokens/);
  });
});

describe('decoding through the cache equals one prefill (fixture model)', () => {
  let rt: LavinRuntime;
  before(async () => {
    const w = await loadModelDir(fixtureModelDir('openai'));
    rt = await LavinRuntime.create(w.cfg, w.tensors, { threads: 1 }, { kernels: 'fused' });
  });
  after(async () => rt?.dispose());

  for (const kernels of ['fused', 'plain'] as const) {
    test(`${kernels} kernels: 3-token prefill then 77 single steps (the buffers grow past 64 rows)`, async () => {
      const w = await loadModelDir(fixtureModelDir('openai'));
      const r = kernels === 'fused' ? rt : await LavinRuntime.create(w.cfg, w.tensors, { threads: 1 }, { kernels });
      try {
        const router = await r.routerTable('text');
        const ids = Array.from({ length: 80 }, (_, i) => 3 + ((i * 37) % 200));
        const positions = ids.map((_, i) => i + 1);
        const whole = await r.step({ embeds: r.embed(ids), positions, routerWeights: router, cache: KvCache.empty(r.cfg), logitRows: ids.map((_, i) => i) });
        const V = r.cfg.llama.vocab;
        let out = await r.step({ embeds: r.embed(ids.slice(0, 3)), positions: positions.slice(0, 3), routerWeights: router, cache: KvCache.empty(r.cfg) });
        let worst = 0;
        let maxRef = 0;
        for (let i = 3; i <= ids.length; i++) {
          const want = whole.logits.subarray((i - 1) * V, i * V);
          for (let j = 0; j < V; j++) {
            worst = Math.max(worst, Math.abs(out.logits[j] - want[j]));
            maxRef = Math.max(maxRef, Math.abs(want[j]));
          }
          if (i === ids.length) break;
          const cache = out.cache;
          out = await r.step({ embeds: r.embed([ids[i]]), positions: [positions[i]], routerWeights: router, cache });
          assert.equal(out.cache, cache, 'the step extends the cache it was given');
          assert.equal(out.cache.length, i + 1);
        }
        assert.ok(worst <= 1e-4 * maxRef, `max |step - prefill| ${worst} of max |logit| ${maxRef}`);
      } finally {
        if (r !== rt) await r.dispose();
      }
    });
  }
});
