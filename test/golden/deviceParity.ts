// The golden forward checks on another execution provider (webgpu, cuda): the same checks and the
// fixture README's tolerances as the CPU suite. Used by the lavapipe test (WebGPU numerics on the CPU
// through Mesa's software Vulkan) and by `npm run check:gpu`. Run alone it prints one JSON line:
//   node out/test/golden/deviceParity.js webgpu [fp16] [int4]
// (it also reports kvTraffic: what decode steps move between host and device)

import { loadModelDir } from '../../server/engine/modelDir';
import { WeightFormat } from '../../server/engine/quant';
import { argmax } from '../../server/engine/sampling';
import { KvCache, LavinRuntime, StepStats } from '../../server/engine/runtime';
import type { ExecutionDevice } from '../../server/engine/session';
import { closeness, FIXTURE_DIR, fixtureModelDir, readGoldenJson, readGoldenTensors } from './fixture';
import { forwardChecks } from './forwardChecks';

export interface ParityRow {
  check: string;
  ok: boolean;
  /** The check's own report (max |err| and its bound), or the error it threw. */
  detail: string;
}

export interface ParityReport {
  device: ExecutionDevice;
  fixture: string;
  rows: ParityRow[];
  seconds: number;
  /** Node placement lines the engine logged (which nodes ran on the CPU provider instead). */
  placement: string[];
}

/** Every forward golden of LAVIN_FIXTURE_DIR with the model's sessions on `device` (float32 weights, plain kernels). */
export async function goldenParity(device: ExecutionDevice): Promise<ParityReport> {
  const t0 = performance.now();
  const golden = readGoldenJson();
  const tensors = await readGoldenTensors();
  const weights = await loadModelDir(fixtureModelDir('openai'));
  const placement: string[] = [];
  const runtime = await LavinRuntime.create(weights.cfg, weights.tensors, { device, threads: 1, log: (m) => placement.push(m) }, { kernels: device === 'cpu' ? 'fused' : 'plain' });
  const rows: ParityRow[] = [];
  try {
    for (const check of forwardChecks(Object.keys(golden.cases))) {
      try {
        rows.push({ check: check.name, ok: true, detail: await check.run({ runtime, golden, tensors }) });
      } catch (e) {
        rows.push({ check: check.name, ok: false, detail: (e as Error).message.split('\n')[0] });
      }
    }
  } finally {
    await runtime.dispose();
  }
  return { device, fixture: FIXTURE_DIR, rows, seconds: (performance.now() - t0) / 1000, placement };
}

export interface ProviderParity {
  weights: WeightFormat;
  against: string;
  tolerance: string;
  worstRelativeError: number;
  ok: boolean;
  worstErrorOverBound: number;
  top1Agreement: string;
}

/** Teacher-forced text-path logits and image features of each golden case, for provider parity. */
async function outputs(rt: LavinRuntime): Promise<Float32Array[]> {
  const golden = readGoldenJson();
  const out: Float32Array[] = [];
  for (const c of Object.values(golden.cases)) {
    out.push(await rt.teacherForced('text', rt.embed(c.train_input_ids.slice(0, 24))));
  }
  const r = rt.cfg.clip!.resolution;
  out.push((await rt.encodeImage(Float32Array.from({ length: 3 * r * r }, (_, i) => Math.sin(i * 0.37)))).visualTokens);
  return out;
}

/**
 * The fixture model at `weights` on the GPU against the CPU provider with the same weights. On the
 * GPU the fp16/int4 linears multiply float16 activations (graph/params.ts halfActivations), the CPU
 * float32 ones. Per linear that adds the rounding of its input and output to fp16 (2^-11 each) and,
 * if the shader accumulates in f16, about sqrt(K) 2^-11 rms over its K inputs; the errors of the
 * model's 7 L + 1 linears add in quadrature: tolerance 2^-11 (2 + sqrt(Kmax)) sqrt(7 L + 1) max|ref|
 * (the fixture: 2 blocks, Kmax from its config; lavapipe measured about a tenth of it).
 * int4 additionally: the CPU's MatMulNBits (accuracy level 4) rounds activations to int8 per 128-block (step
 * max|x|/127, block max about 3.5 sigma: about 0.8% rms error per linear), a GPU kernel may not;
 * over the fixture's 2 blocks x 7 linears and the head these add in quadrature to about 3% of a
 * logit's scale, so 5e-2 max|ref| (lavapipe measured 2.1e-2) is added in quadrature; top-1 agreement is reported.
 */
export async function providerParity(device: ExecutionDevice, weights: WeightFormat): Promise<ProviderParity> {
  const model = await loadModelDir(fixtureModelDir('openai'));
  const { nLayers, dim, ffnHidden } = model.cfg.llama;
  const half = 2 ** -11 * (2 + Math.sqrt(Math.max(dim, ffnHidden))) * Math.sqrt(7 * nLayers + 1);
  const rel = weights === 'int4' || weights === 'int8' ? Math.hypot(5e-2, half) : weights === 'fp16' ? half : 1e-5;
  const open = (d: ExecutionDevice) => LavinRuntime.create(model.cfg, model.tensors, { device: d, threads: 4 }, { weights, kernels: 'plain' });
  const cpu = await open('cpu');
  const expected = await outputs(cpu);
  await cpu.dispose();
  const gpu = await open(device);
  const actual = await outputs(gpu);
  await gpu.dispose();
  const V = model.cfg.llama.vocab;
  let worst = 0;
  let ok = true;
  let top1 = 0;
  let rows = 0;
  actual.forEach((a, i) => {
    const c = closeness(a, expected[i], rel, 1e-6);
    ok &&= c.ok;
    worst = Math.max(worst, c.maxAbsError / Math.max(c.bound, 1e-30));
    if (i < actual.length - 1) {
      for (let r = 0; r < a.length / V; r++, rows++) if (argmax(a.subarray(r * V, (r + 1) * V)) === argmax(expected[i].subarray(r * V, (r + 1) * V))) top1++;
    }
  });
  return { weights, against: 'cpu provider, same weights', tolerance: `|d| <= ${rel.toExponential(2)} max|ref| + 1e-6`, worstRelativeError: worst * rel, ok, worstErrorOverBound: worst, top1Agreement: `${top1}/${rows}` };
}

export interface KvTraffic {
  /** Decode steps measured per path, after a prefill of `prompt` tokens. */
  steps: number;
  prompt: number;
  /** Bytes of the whole cache (keys and values of every layer, float32, all slots) at the end. */
  cacheBytes: number;
  /** Per decode step with the KV cache on the device / in host memory: host bytes in and out, ms. */
  onDevice: StepStats;
  onHost: StepStats;
  /** The most any decode logit differs between the two paths (the same decoder: expect 0), over the decode and a reuse of the cache (truncated, then prefilled and decoded). */
  maxLogitDifference: number;
}

/**
 * Host<->device traffic of decode steps on `device` with the KV cache kept on the device (the
 * default on WebGPU) and in host memory, on the fixture model (float32, plain kernels): the same
 * greedy decode through both, its logits compared.
 */
export async function kvTraffic(device: ExecutionDevice, prompt = 40, steps = 8): Promise<KvTraffic> {
  const model = await loadModelDir(fixtureModelDir('openai'));
  const { nLayers, nKvHeads, headDim, vocab } = model.cfg.llama;
  let cacheBytes = 0;
  const decode = async (kvOnHost: boolean) => {
    const rt = await LavinRuntime.create(model.cfg, model.tensors, { device, threads: 1, kvOnHost }, { kernels: 'plain' });
    try {
      const router = await rt.routerTable('text');
      const ids = Array.from({ length: prompt }, (_, i) => (7 * i + 3) % vocab);
      let out = (await rt.prefill({ embeds: rt.embed(ids), positions: ids.map((_, i) => i + 1), routerWeights: router, cache: KvCache.empty(rt.cfg) }))!;
      Object.assign(rt.stats, { steps: 0, prepareMs: 0, runMs: 0, kvMs: 0, hostInputBytes: 0, hostOutputBytes: 0 });
      const logits: Float32Array[] = [];
      for (let k = 0; k < steps; k++) {
        out = await rt.step({ embeds: rt.embed([argmax(out.logits)]), positions: [out.cache.length + 1], routerWeights: router, cache: out.cache });
        logits.push(out.logits.slice());
      }
      cacheBytes = 2 * nLayers * nKvHeads * headDim * out.cache.slots * 4;
      const per = { ...rt.stats };
      for (const k of ['prepareMs', 'runMs', 'kvMs', 'hostInputBytes', 'hostOutputBytes'] as const) per[k] /= per.steps;
      // A next turn reusing the cache (generate.ts): keep its first rows, prefill a few tokens past
      // them (reserving room while the rows are on the device), decode on.
      const keep = prompt; // drops the decoded rows; the prefill then asks for more slots than the cache has
      out.cache.truncate(keep);
      const more = ids.slice(0, 6).map((id) => (id + 1) % vocab);
      out = (await rt.prefill({ embeds: rt.embed(more), positions: more.map((_, i) => keep + 1 + i), routerWeights: router, cache: out.cache }))!;
      logits.push(out.logits.slice());
      for (let k = 0; k < 2; k++) {
        out = await rt.step({ embeds: rt.embed([argmax(out.logits)]), positions: [out.cache.length + 1], routerWeights: router, cache: out.cache });
        logits.push(out.logits.slice());
      }
      out.cache.release();
      return { per, logits };
    } finally {
      await rt.dispose();
    }
  };
  const dev = await decode(false);
  const host = await decode(true);
  let diff = 0;
  dev.logits.forEach((a, i) => a.forEach((x, j) => (diff = Math.max(diff, Math.abs(x - host.logits[i][j])))));
  return { steps, prompt, cacheBytes, onDevice: dev.per, onHost: host.per, maxLogitDifference: diff };
}

// (not when node --test loads this file as a test file: NODE_TEST_CONTEXT is set there)
if (require.main === module && process.env.NODE_TEST_CONTEXT === undefined) {
  const device = (process.argv[2] ?? 'webgpu') as ExecutionDevice;
  const against = process.argv.slice(3) as WeightFormat[]; // e.g. fp16 int4: also provider parity at those weights
  (async () => {
    const report = await goldenParity(device);
    const parities: ProviderParity[] = [];
    for (const w of against) parities.push(await providerParity(device, w)); // one GPU session pair at a time
    return { ...report, providerParity: parities, kvTraffic: await kvTraffic(device) };
  })().then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e) => {
      process.stdout.write(JSON.stringify({ device, error: (e as Error).message.split('\n')[0] }) + '\n');
      process.exitCode = 1;
    },
  );
}
