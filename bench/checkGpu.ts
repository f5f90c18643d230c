// `npm run check:gpu`: the GPU path checked and timed in one short run on a machine with a GPU and
// only what `npm ci` installs (the WebGPU provider is in onnxruntime-node; CUDA only if its provider
// library was installed). Writes bench/results/gpu-<provider>.json after every stage, so a crash
// keeps what was measured. Stages per usable provider:
//   1. golden parity, float32 weights: every forward golden of LAVIN_FIXTURE_DIR within the fixture
//      README's tolerance (|d| <= 1e-5 max|ref| + 1e-6), the CPU suite's checks unchanged;
//   2. provider parity at fp16 and int4 weights against the CPU provider (tolerances in `parity`);
//   3. the 1b and 7B bench shapes at int4 (random codes: speed does not depend on the values):
//      load, prefill and decode tokens/s, peak GPU memory (nvidia-smi, when present) and peak RSS.
// Without a usable GPU provider it says why and exits 0. Flags: --shapes 1b,7b  --allow-software
// (accept a software Vulkan adapter, e.g. lavapipe: for testing this script, not for numbers).

import { execFile } from 'child_process';
import { randomFillSync } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { defaultProbe, gpuDeviceNode } from '../server/engine/device';
import { LavinConfig } from '../server/engine/lavin';
import { loadModelDir } from '../server/engine/modelDir';
import { blockSizeFor, QuantizedWeight, WeightFormat } from '../server/engine/quant';
import { KvCache, LavinRuntime } from '../server/engine/runtime';
import { argmax } from '../server/engine/sampling';
import type { ExecutionDevice } from '../server/engine/session';
import { HostTensor } from '../server/engine/tensor';
import { closeness, fixtureModelDir, readGoldenJson } from '../test/golden/fixture';
import { goldenParity } from '../test/golden/deviceParity';
import { benchConfig, parameterShapes, randomValues, SEED, SHAPES, syntheticIds } from './shapes';

const ROOT = path.join(__dirname, '..', '..');
type Gpu = Exclude<ExecutionDevice, 'cpu'>;

/** Why each GPU provider is unusable here (undefined: usable). */
export async function usableProviders(allowSoftware: boolean): Promise<{ device: Gpu; problem?: string }[]> {
  const out: { device: Gpu; problem?: string }[] = [];
  for (const device of ['cuda', 'webgpu'] as const) {
    let problem = await defaultProbe(device, device);
    if (!problem && device === 'webgpu' && !allowSoftware && gpuDeviceNode() === null) {
      problem = 'Dawn found an adapter, but there is no GPU device node: a software renderer (pass --allow-software to use it anyway)';
    }
    out.push({ device, problem });
  }
  return out;
}

/** Highest GPU memory in use (MiB) while `work` runs, from nvidia-smi every 200 ms; undefined without it. */
async function peakGpuMemory<T>(work: () => Promise<T>): Promise<{ value: T; peakMiB?: number; baselineMiB?: number }> {
  const query = () => new Promise<number | undefined>((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { timeout: 5000 }, (err, out) => {
      const used = err ? NaN : out.trim().split('\n').map(Number).reduce((a, b) => a + b, 0);
      resolve(Number.isFinite(used) ? used : undefined);
    });
  });
  const baselineMiB = await query();
  if (baselineMiB === undefined) return { value: await work() };
  let peak = baselineMiB;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const u = await query();
      if (u !== undefined) peak = Math.max(peak, u);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    return { value: await work(), peakMiB: peak, baselineMiB };
  } finally {
    polling = false;
    await poller;
  }
}

/** nvidia-smi's name for the GPU(s), when it is installed. */
function gpuName(): Promise<string | undefined> {
  return new Promise((resolve) => execFile('nvidia-smi', ['-L'], { timeout: 5000 }, (err, out) => resolve(err ? undefined : out.trim())));
}

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** The LLaMA linear weights (the ones the int4 policy quantises). */
function isLlamaLinear(name: string, shape: number[]): boolean {
  return shape.length === 2 && !name.startsWith('backbone.visual.') && !name.includes('adapter') && name !== 'tok_embeddings.weight';
}

/** Random MatMulNBits codes for an [n, k] weight: zero point 8, scale for a std of about 1/sqrt(k). */
function randomInt4(n: number, k: number): QuantizedWeight {
  const blockSize = blockSizeFor(k);
  const blocks = Math.ceil(k / blockSize);
  const packed = new Uint8Array(n * blocks * (blockSize / 2));
  for (let o = 0; o < packed.length; o += 65536) randomFillSync(packed, o, Math.min(65536, packed.length - o));
  const scales = new Float32Array(n * blocks).fill(1 / (4.6 * Math.sqrt(k))); // uniform codes 0..15 around 8: std 4.6 steps
  const zeroPoints = new Uint8Array(n * Math.ceil(blocks / 2)).fill(0x88);
  const t = (dtype: HostTensor['dtype'], shape: number[], data: Uint8Array): HostTensor => ({ dtype, shape, data });
  return {
    bits: 4, n, k, blockSize,
    packed: t('uint8', [n, blocks, blockSize / 2], packed),
    scales: t('float32', [n * blocks], new Uint8Array(scales.buffer)),
    zeroPoints: t('uint8', [zeroPoints.length], zeroPoints),
  };
}

/** A bench shape's tensors: floats generated on use, the LLaMA linears only as int4 codes. */
function benchModel(cfg: LavinConfig): { tensors: ReadonlyMap<string, HostTensor>; prequantized: Map<string, QuantizedWeight> } {
  const shapes = parameterShapes(cfg);
  const prequantized = new Map<string, QuantizedWeight>();
  const floats = new Map<string, number[]>();
  for (const [name, shape] of shapes) {
    if (isLlamaLinear(name, shape)) prequantized.set(name, randomInt4(shape[0], shape[1]));
    else floats.set(name, shape);
  }
  const make = (name: string): HostTensor => {
    const shape = floats.get(name);
    if (!shape) throw new Error(`check:gpu: ${name} exists only as int4 codes; nothing should read it as floats`);
    return { dtype: 'float32', shape, data: new Uint8Array(randomValues(SEED, name, shape).buffer) };
  };
  const tensors = new Map<string, HostTensor>();
  for (const name of floats.keys()) tensors.set(name, make(name));
  return { tensors, prequantized };
}

/** Teacher-forced text-path logits and image features of each golden case, for provider parity. */
async function outputs(rt: LavinRuntime): Promise<Float32Array[]> {
  const golden = readGoldenJson();
  const out: Float32Array[] = [];
  for (const c of Object.values(golden.cases)) {
    out.push(await rt.teacherForced('text', rt.embed(c.train_input_ids.slice(0, 24))));
  }
  const r = rt.cfg.clip.resolution;
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
async function parity(device: Gpu, weights: WeightFormat): Promise<Record<string, unknown>> {
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

/** Load, prefill (512 tokens, the product's 256-token chunks) and decode rates of a bench shape at int4. */
async function speed(device: Gpu, shapeName: string): Promise<Record<string, unknown>> {
  const shape = SHAPES[shapeName];
  if (!shape) throw new Error(`check:gpu: unknown shape ${shapeName} (known: ${Object.keys(SHAPES).join(', ')})`);
  const cfg = benchConfig(shape);
  const t0 = performance.now();
  const { tensors, prequantized } = benchModel(cfg);
  const buildMs = performance.now() - t0;
  const placement: string[] = [];
  const measured = await peakGpuMemory(async () => {
    const l0 = performance.now();
    const rt = await LavinRuntime.create(cfg, tensors, { device, log: (m) => placement.push(m) }, { weights: 'int4', kernels: 'plain' }, prequantized);
    const loadMs = performance.now() - l0;
    prequantized.clear();
    const router = await rt.routerTable('text');
    const prompt = syntheticIds(512, cfg.llama.vocab, 1);
    const pre = (ids: number[]) => rt.prefill({ embeds: rt.embed(ids), positions: ids.map((_, i) => i + 1), routerWeights: router, cache: KvCache.empty(cfg) });
    await pre(prompt.slice(0, 16)); // warm-up: shader compilation
    let best = Infinity;
    for (let r = 0; r < 2; r++) {
      const p0 = performance.now();
      await pre(prompt);
      best = Math.min(best, performance.now() - p0);
    }
    let out = (await pre([1]))!;
    const steps: number[] = [];
    for (let k = 0; k < (shapeName === '7b' ? 24 : 48); k++) {
      const token = argmax(out.logits);
      const s0 = performance.now();
      out = await rt.step({ embeds: rt.embed([token]), positions: [out.cache.length + 1], routerWeights: router, cache: out.cache });
      steps.push(performance.now() - s0);
    }
    await rt.dispose();
    const sorted = steps.slice(2).sort((a, b) => a - b); // the first steps still compile shaders
    return { loadMs, prefillTokS: (512 * 1000) / best, decodeTokS: 1000 / sorted[sorted.length >> 1], decodeSteps: steps.length };
  });
  return {
    shape: shapeName, weights: 'int4 (random codes, block 128; the ViT float32)', buildWeightsMs: buildMs, ...measured.value,
    peakGpuMemoryMiB: measured.peakMiB === undefined ? 'not reported (no nvidia-smi)' : measured.peakMiB - (measured.baselineMiB ?? 0),
    peakRssMb: peakRssMb(), placement,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const allowSoftware = args.includes('--allow-software');
  const shapesArg = args.indexOf('--shapes');
  const shapes = shapesArg >= 0 ? (args[shapesArg + 1] ?? '').split(',').filter(Boolean) : ['1b', '7b'];
  const providers = await usableProviders(allowSoftware);
  const usable = providers.filter((p) => !p.problem);
  if (!usable.length) {
    console.log(`check:gpu: no GPU provider is usable here, nothing to check (${providers.map((p) => `${p.device}: ${p.problem}`).join('; ')})`);
    return;
  }
  for (const { device } of usable) {
    const file = path.join(ROOT, 'bench', 'results', `gpu-${device}.json`);
    const result: Record<string, unknown> = { device, date: new Date().toISOString(), gpu: await gpuName(), gpuDeviceNode: gpuDeviceNode(), softwareAllowed: allowSoftware, stages: {} };
    const stages = result.stages as Record<string, unknown>;
    const save = () => fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    const stage = async (name: string, run: () => Promise<unknown>) => {
      const s0 = performance.now();
      try {
        stages[name] = await run();
      } catch (e) {
        stages[name] = { error: (e as Error).message.split('\n')[0] };
      }
      console.log(`check:gpu ${device} ${name} (${((performance.now() - s0) / 1000).toFixed(1)} s): ${JSON.stringify(stages[name]).slice(0, 400)}`);
      save();
    };
    await stage('goldenParityFp32', async () => {
      const r = await goldenParity(device);
      return { ok: r.rows.every((x) => x.ok), tolerance: 'fixture README: |d| <= 1e-5 max|ref| + 1e-6', rows: r.rows, placement: r.placement, seconds: r.seconds };
    });
    await stage('providerParityFp16', () => parity(device, 'fp16'));
    await stage('providerParityInt4', () => parity(device, 'int4'));
    for (const s of shapes) await stage(`speed_${s}_int4`, () => speed(device, s));
    console.log(`check:gpu: wrote ${path.relative(ROOT, file)}`);
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`check:gpu: ${(e as Error).message}`);
    process.exit(1);
  });
}
