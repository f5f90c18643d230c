// Swapping adapter sets into running sessions: same results as a model built with those adapters,
// exact round trip back, and clear errors for adapters of another model. A set with FFN adapters
// (LaVIN's 'block' layout, lavin.ts FFN_ADAPTER) or with each CLIP tap's own projection input swaps
// into a model whose own set has none.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModelDir } from '../../server/engine/modelDir';
import { isAdapterParam } from '../../server/engine/programs';
import { LavinRuntime } from '../../server/engine/runtime';
import { fromFloat32, HostTensor, toFloat32 } from '../../server/engine/tensor';
import { fixtureModelDir, readGoldenJson } from '../golden/fixture';
import { ffnAdapterShapes, tapProjection, tapProjectionShapes, visionOf } from '../../server/engine/lavin';

const golden = readGoldenJson();
const textCase = Object.values(golden.cases).find((c) => c.img_indicator === 0)!;

/** Every adapter tensor scaled by a factor: a different, same-shaped adapter set. */
function scaledAdapters(tensors: Map<string, HostTensor>, factor: number): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of tensors) if (isAdapterParam(k)) out.set(k, fromFloat32(toFloat32(t).map((v) => v * factor), t.shape.slice()));
  return out;
}

describe('adapter swap without rebuilding sessions', () => {
  let tensors: Map<string, HostTensor>;
  let rt: LavinRuntime;
  before(async () => {
    const w = await loadModelDir(fixtureModelDir());
    tensors = w.tensors;
    rt = await LavinRuntime.create(w.cfg, w.tensors, { threads: 1 });
  });
  after(async () => rt?.dispose());

  const forward = async (r: LavinRuntime) => ({
    logits: await r.teacherForced('text', r.embed(textCase.gen_prompt_ids)),
    router: await r.routerTable('text'),
    visual: (await r.encodeImage(new Float32Array(3 * visionOf(r.cfg).resolution ** 2).fill(0.1))).visualTokens,
  });

  test('a swapped-in set computes exactly what a model built with it computes, and swapping back restores the original', async () => {
    const original = await forward(rt);
    const other = scaledAdapters(tensors, 0.5);
    rt.setAdapters(other);
    const swapped = await forward(rt);
    const fresh = await LavinRuntime.create(rt.cfg, new Map([...tensors, ...other]), { threads: 1 });
    try {
      const expected = await forward(fresh);
      assert.deepEqual(swapped.logits, expected.logits);
      assert.deepEqual(swapped.router, expected.router);
      assert.deepEqual(swapped.visual, expected.visual);
    } finally {
      await fresh.dispose();
    }
    assert.notDeepEqual(swapped.logits, original.logits, 'the other adapter set changed nothing');
    rt.setAdapters(new Map([...tensors].filter(([k]) => isAdapterParam(k))));
    const back = await forward(rt);
    assert.deepEqual(back.logits, original.logits);
    assert.deepEqual(back.router, original.router);
  });

  test('FFN adapters: a set with them swaps in and computes what a model built with them computes; zeros change nothing', async () => {
    const own = new Map([...tensors].filter(([k]) => isAdapterParam(k)));
    const original = await forward(rt);
    const shapes = ffnAdapterShapes(new Map([...own].map(([k, t]) => [k, t.shape])));
    assert.equal(shapes.size, 6 * rt.cfg.llama.nLayers, 'conv_A, conv_B, conv_D weight and bias in every block');
    const withFfn = (value: (i: number) => number) => {
      const set = new Map(own);
      let seed = 0;
      for (const [k, shape] of shapes) set.set(k, fromFloat32(Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, (_, i) => value(i + seed++)), shape));
      return set;
    };
    rt.setAdapters(withFfn(() => 0));
    assert.deepEqual(await forward(rt), original, 'zero FFN adapters are the identity: exactly the set without them');
    const active = withFfn((i) => 0.05 * Math.sin(i));
    rt.setAdapters(active);
    const swapped = await forward(rt);
    assert.notDeepEqual(swapped.logits, original.logits, 'the FFN adapters are not in the decoder');
    assert.deepEqual([...rt.adapterTensors()].map(([k]) => k).sort(), [...active.keys()].sort(), 'the set in use is the one given');
    const fresh = await LavinRuntime.create(rt.cfg, new Map([...tensors, ...active]), { threads: 1 });
    try {
      assert.deepEqual(swapped.logits, (await forward(fresh)).logits);
    } finally {
      await fresh.dispose();
    }
    rt.setAdapters(own);
    assert.deepEqual((await forward(rt)).logits, original.logits);
    assert.ok(![...rt.adapterTensors()].some(([k]) => k.includes('adapter_mlp')), 'the identity FFN adapters fed for a set without them are not part of the set');
  });

  test('a set with a wider visual projection (adapter_proj hidden width) swaps in and computes what a model built with it computes', async () => {
    const own = new Map([...tensors].filter(([k]) => isAdapterParam(k)));
    const original = await forward(rt);
    const [hidden, width] = own.get('adapter_proj.conv_A.weight')!.shape;
    const dim = own.get('adapter_proj.conv_B.weight')!.shape[0];
    const wide = 4 * hidden;
    const values = (n: number, scale: number) => Float32Array.from({ length: n }, (_, i) => scale * Math.sin(0.7 * i + 0.3));
    const set = new Map(own);
    set.set('adapter_proj.conv_A.weight', fromFloat32(values(wide * width, 0.2), [wide, width]));
    set.set('adapter_proj.conv_A.bias', fromFloat32(values(wide, 0.1), [wide]));
    set.set('adapter_proj.conv_B.weight', fromFloat32(values(dim * wide, 0.2), [dim, wide]));
    rt.setAdapters(set);
    const swapped = await forward(rt);
    assert.notDeepEqual(swapped.visual, original.visual);
    const fresh = await LavinRuntime.create(rt.cfg, new Map([...tensors, ...set]), { threads: 1 });
    try {
      assert.deepEqual(swapped.visual, (await forward(fresh)).visual);
    } finally {
      await fresh.dispose();
    }
    const odd = new Map(set);
    odd.set('adapter_proj.conv_B.weight', fromFloat32(values((dim + 1) * wide, 0.2), [dim + 1, wide]));
    assert.throws(() => rt.setAdapters(odd), /adapter_proj\.conv_B\.weight has shape \[\d+,\d+\], this model needs .* \(any size on axis 1\)/);
    const mismatched = new Map(set);
    mismatched.set('adapter_proj.conv_A.bias', fromFloat32(values(wide + 1, 0.1), [wide + 1]));
    assert.throws(() => rt.setAdapters(mismatched), /the proj_hidden sizes disagree/);
    rt.setAdapters(own);
    assert.deepEqual((await forward(rt)).visual, original.visual);
  });

  test("each tap's own projection input (taps.K.conv_A): the shared one moved into every tap's computes the same; one tap's changes only its visual token", async () => {
    const own = new Map([...tensors].filter(([k]) => isAdapterParam(k)));
    const original = await forward(rt);
    const taps = rt.cfg.adapter.nVisualTokens;
    const dim = rt.cfg.llama.dim;
    const shapes = tapProjectionShapes(new Map([...own].map(([k, t]) => [k, t.shape])), taps);
    assert.equal(shapes.size, 2 * taps);
    // conv_A zero and each tap's layer a copy of it: the same function of the taps (up to float rounding of the split matmul).
    const moved = new Map(own);
    const convA = own.get('adapter_proj.conv_A.weight')!;
    const bias = own.get('adapter_proj.conv_A.bias')!;
    moved.set('adapter_proj.conv_A.weight', fromFloat32(new Float32Array(toFloat32(convA).length), convA.shape.slice()));
    moved.set('adapter_proj.conv_A.bias', fromFloat32(new Float32Array(toFloat32(bias).length), bias.shape.slice()));
    for (let k = 0; k < taps; k++) {
      moved.set(tapProjection(k, 'weight'), convA);
      moved.set(tapProjection(k, 'bias'), bias);
    }
    rt.setAdapters(moved);
    const same = await forward(rt);
    const gap = same.visual.reduce((m, v, i) => Math.max(m, Math.abs(v - original.visual[i])), 0);
    assert.ok(gap < 1e-5, `visual tokens differ by ${gap}`);
    assert.deepEqual([...rt.adapterTensors()].map(([k]) => k).sort(), [...moved.keys()].sort(), 'the set in use is the one given');
    // Tap 2's layer changed: visual token 2 moves, the others stay, and a model built with the set agrees.
    const changed = new Map(moved);
    changed.set(tapProjection(2, 'bias'), fromFloat32(toFloat32(bias).map((v, i) => v + 0.3 * Math.sin(i)), bias.shape.slice()));
    rt.setAdapters(changed);
    const swapped = await forward(rt);
    for (let k = 0; k < taps; k++) {
      const row = (v: Float32Array) => v.subarray(k * dim, (k + 1) * dim);
      const differs = row(swapped.visual).some((v, i) => v !== row(same.visual)[i]);
      assert.equal(differs, k === 2, `visual token ${k} ${differs ? 'moved' : 'stayed'}`);
    }
    const fresh = await LavinRuntime.create(rt.cfg, new Map([...tensors, ...changed]), { threads: 1 });
    try {
      assert.deepEqual(swapped.visual, (await forward(fresh)).visual);
    } finally {
      await fresh.dispose();
    }
    rt.setAdapters(own);
    assert.deepEqual(await forward(rt), original, 'the zero tap layers fed for a set without them change nothing');
    assert.ok(![...rt.adapterTensors()].some(([k]) => k.startsWith('adapter_proj.taps.')), 'the identity tap layers fed for a set without them are not part of the set');
  });

  test('an adapter set for another model is refused with the tensor named, and nothing changes', async () => {
    const before = await rt.teacherForced('text', rt.embed(textCase.gen_prompt_ids));
    const wrong = scaledAdapters(tensors, 1);
    const name = 'layers.0.adapter_attn.conv_A.weight';
    const t = wrong.get(name)!;
    wrong.set(name, fromFloat32(new Float32Array(t.shape[0] * 2 * t.shape[1]), [t.shape[0], 2 * t.shape[1], 1]));
    assert.throws(() => rt.setAdapters(wrong), new RegExp(`${name.replace(/\./g, '\\.')} has shape`));
    const missing = scaledAdapters(tensors, 1);
    missing.delete('adapter_proj.conv_B.bias');
    assert.throws(() => rt.setAdapters(missing), /adapter set lacks adapter_proj\.conv_B\.bias/);
    assert.deepEqual(await rt.teacherForced('text', rt.embed(textCase.gen_prompt_ids)), before);
  });
});
