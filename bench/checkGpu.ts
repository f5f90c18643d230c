// `npm run check:gpu`: the GPU path checked and timed in one short run on a machine with a GPU and
// only what `npm ci` installs (the WebGPU provider is in onnxruntime-node; CUDA only if its provider
// library was installed). Writes bench/results/gpu-<provider>.json after every stage, so a crash
// keeps what was measured. Stages per usable provider:
//   1. golden parity, float32 weights: every forward golden of LAVIN_FIXTURE_DIR within the fixture
//      README's tolerance (|d| <= 1e-5 max|ref| + 1e-6), the CPU suite's checks unchanged;
//   2. provider parity at fp16 and int4 weights against the CPU provider (tolerances derived in
//      test/golden/deviceParity.ts providerParity);
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
import { blockSizeFor, QuantizedWeight } from '../server/engine/quant';
import { KvCache, LavinRuntime } from '../server/engine/runtime';
import { argmax } from '../server/engine/sampling';
import type { ExecutionDevice } from '../server/engine/session';
import { HostTensor } from '../server/engine/tensor';
import { goldenParity, providerParity } from '../test/golden/deviceParity';
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
    // Decoding after the 512-token prompt: the KV cache lives in host memory and every step uploads
    // all of it (7B: 1 MiB per token of context, keys and values of 32 layers in float32), so this shows what that costs on the GPU.
    let long = (await pre(prompt))!;
    const longSteps: number[] = [];
    for (let k = 0; k < 12; k++) {
      const token = argmax(long.logits);
      const s0 = performance.now();
      long = await rt.step({ embeds: rt.embed([token]), positions: [long.cache.length + 1], routerWeights: router, cache: long.cache });
      longSteps.push(performance.now() - s0);
    }
    await rt.dispose();
    const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
    return {
      loadMs, prefillTokS: (512 * 1000) / best, decodeTokS: 1000 / median(steps.slice(2)), decodeSteps: steps.length, // the first steps still compile shaders
      decodeAfter512TokS: 1000 / median(longSteps), kvSlotsAfter512: long.cache.slots,
    };
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
    await stage('providerParityFp16', () => providerParity(device, 'fp16'));
    await stage('providerParityInt4', () => providerParity(device, 'int4'));
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
