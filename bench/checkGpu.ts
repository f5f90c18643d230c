// `npm run check:gpu`: the GPU path checked and timed in one short run on a machine with a GPU and
// only what `npm ci` installs (the WebGPU provider is in onnxruntime-node; CUDA only if its provider
// library was installed). Writes bench/results/gpu-<provider>.json after every stage, so a crash
// keeps what was measured. Stages per usable provider:
//   1. golden parity, float32 weights: every forward golden of LAVIN_FIXTURE_DIR within the fixture
//      README's tolerance (|d| <= 1e-5 max|ref| + 1e-6), the CPU suite's checks unchanged;
//   2. provider parity at fp16 and int4 weights against the CPU provider (tolerances derived in
//      test/golden/deviceParity.ts providerParity);
//   3. what one session.run and moving bytes cost on this provider (transfers);
//   4. the 1b and 7B bench shapes at int4 (random codes: speed does not depend on the values):
//      load (and what it is spent on), prefill and decode tokens/s, each decode step split into
//      preparing feeds / the decoder's run / keeping the KV cache, with the host bytes in and out,
//      peak GPU memory (nvidia-smi, when present) and peak RSS. On WebGPU the KV cache stays on the
//      device (deviceKv.ts); the 1b shape is also run with it in host memory (uploaded every step,
//      the path before) and once with onnxruntime's profile of decode steps (kernel host time);
//   5. each shape's decode on this machine's CPU provider, for `device: auto`'s choice.
// Without a usable GPU provider it says why and exits 0. Flags: --shapes 1b,7b  --allow-software
// (accept a software Vulkan adapter, e.g. lavapipe: for testing this script, not for numbers)
// --no-compare (skip the 1b host-KV and profiled runs and the CPU decode of each shape).

import { execFile } from 'child_process';
import { randomFillSync } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { defaultProbe, gpuDeviceNode } from '../server/engine/device';
import { LavinConfig } from '../server/engine/lavin';
import { blockSizeFor, QuantizedWeight } from '../server/engine/quant';
import * as os from 'os';
import { DeviceTensors } from '../server/engine/deviceKv';
import { emptyStepStats, KvCache, LavinRuntime, StepStats } from '../server/engine/runtime';
import { createSession } from '../server/engine/session';
import { Builder } from '../server/engine/graph/builder';
import { Graph } from '../server/engine/graph/graph';
import * as ort from 'onnxruntime-node';
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

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

/** Per-step averages of the runtime's step counters since `from` (a copy taken before the steps). */
function perStep(now: StepStats, from: StepStats): Record<string, number> {
  const n = now.steps - from.steps;
  const avg = (k: keyof StepStats) => Number(((now[k] - from[k]) / Math.max(n, 1)).toFixed(3));
  return { steps: n, prepareMs: avg('prepareMs'), runMs: avg('runMs'), kvMs: avg('kvMs'), hostInputBytes: avg('hostInputBytes'), hostOutputBytes: avg('hostOutputBytes') };
}

interface SpeedOptions {
  /** Keep the KV cache in host memory (the path before deviceKv.ts): uploaded whole every step. */
  kvOnHost?: boolean;
  /** Write onnxruntime's profile and summarise the decode steps' kernel host time. */
  profile?: boolean;
  /** Only the short-context decode (the comparison runs). */
  decodeOnly?: boolean;
}

/** Load, prefill (512 tokens, the product's 256-token chunks) and decode rates of a bench shape at int4. */
export async function speed(device: ExecutionDevice, shapeName: string, opts: SpeedOptions = {}): Promise<Record<string, unknown>> {
  const shape = SHAPES[shapeName];
  if (!shape) throw new Error(`check:gpu: unknown shape ${shapeName} (known: ${Object.keys(SHAPES).join(', ')})`);
  const cfg = benchConfig(shape);
  const t0 = performance.now();
  const { tensors, prequantized } = benchModel(cfg);
  const buildMs = performance.now() - t0;
  const placement: string[] = [];
  const phases: Record<string, number> = {};
  const profileDir = opts.profile ? fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-gpu-profile-')) : undefined;
  const measured = await peakGpuMemory(async () => {
    const l0 = performance.now();
    const session = { device, log: (m: string) => placement.push(m), phases, kvOnHost: opts.kvOnHost, profilePrefix: profileDir && path.join(profileDir, 'run') };
    // The CPU gets what the product gives it: fused RMSNorm/RoPE kernels (lavinModel.ts).
    const rt = await LavinRuntime.create(cfg, tensors, session, { weights: 'int4', kernels: device === 'cpu' ? 'fused' : 'plain' }, { prequantized });
    const loadMs = performance.now() - l0;
    prequantized.clear();
    const f0 = performance.now();
    const router = await rt.routerTable('text'); // the decoder's first run: shader compilation
    const firstRunMs = performance.now() - f0;
    const prompt = syntheticIds(512, cfg.llama.vocab, 1);
    const pre = (ids: number[]) => rt.prefill({ embeds: rt.embed(ids), positions: ids.map((_, i) => i + 1), routerWeights: router, cache: KvCache.empty(cfg) });
    const w0 = performance.now();
    (await pre(prompt.slice(0, 16)))!.cache.release(); // warm-up: shader compilation
    const warmMs = performance.now() - w0;
    let best = Infinity;
    if (!opts.decodeOnly) {
      for (let r = 0; r < 2; r++) {
        const p0 = performance.now();
        (await pre(prompt))!.cache.release();
        best = Math.min(best, performance.now() - p0);
      }
    }
    const decode = async (out: Awaited<ReturnType<typeof pre>>, n: number) => {
      const steps: number[] = [];
      const before = { ...rt.stats };
      for (let k = 0; k < n; k++) {
        const token = argmax(out!.logits);
        const s0 = performance.now();
        out = await rt.step({ embeds: rt.embed([token]), positions: [out!.cache.length + 1], routerWeights: router, cache: out!.cache });
        steps.push(performance.now() - s0);
        if (k === 1) Object.assign(before, rt.stats); // the first steps still compile shaders
      }
      const slots = out!.cache.slots;
      out!.cache.release();
      return { tokS: 1000 / median(steps.slice(2)), perStep: perStep(rt.stats, before), slots };
    };
    const short = await decode(await pre([1]), opts.profile ? 8 : shapeName === '7b' ? 24 : 48);
    // Decoding after the 512-token prompt: with the cache in host memory every step uploads all
    // of it (7B: 1 MiB per token of context, float32 keys and values of 32 layers).
    const long = opts.decodeOnly ? undefined : await decode(await pre(prompt), 12);
    await rt.dispose();
    return {
      loadMs, firstRunMs, warmUpPrefill16Ms: warmMs,
      prefillTokS: opts.decodeOnly ? undefined : (512 * 1000) / best,
      decodeTokS: short.tokS, decodeStep: short.perStep,
      decodeAfter512TokS: long?.tokS, decodeAfter512Step: long?.perStep, kvSlotsAfter512: long?.slots,
    };
  });
  return {
    shape: shapeName, device, weights: 'int4 (random codes, block 128; the ViT float32)',
    kvCache: device === 'cpu' ? 'host memory' : opts.kvOnHost ? 'host memory, uploaded every step' : device === 'webgpu' ? 'on the device' : 'host memory (this provider copies every input)',
    buildWeightsMs: buildMs, loadPhasesMs: phases, ...measured.value,
    ...(profileDir ? { profile: summarizeProfile(profileDir) } : {}),
    peakGpuMemoryMiB: measured.peakMiB === undefined ? 'not reported (no nvidia-smi)' : measured.peakMiB - (measured.baselineMiB ?? 0),
    peakRssMb: peakRssMb(), placement,
  };
}

interface ProfileEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string; provider?: string };
}

/**
 * The decoder's last decode runs in onnxruntime's profile: wall time of each run and the host time
 * its kernels took (on WebGPU, recording and submitting the GPU work, and any waits inside),
 * with the op types that took most. Near-equal totals mean the run is bound by the host's
 * per-node work, not by the GPU.
 */
function summarizeProfile(dir: string): Record<string, unknown> {
  try {
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    const decoder = files.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ProfileEvent[]).find((ev) => ev.some((e) => e.args?.op_name === 'MatMulNBits'));
    if (!decoder) return { error: `no decoder profile among ${files.length} files` };
    const runs = decoder.filter((e) => e.cat === 'Session' && e.name === 'model_run').slice(-4);
    const nodes = decoder.filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time'));
    const byOp = new Map<string, number>();
    let kernelUs = 0;
    let count = 0;
    for (const r of runs) {
      for (const n of nodes) {
        if (n.ts! < r.ts! || n.ts! > r.ts! + r.dur!) continue;
        kernelUs += n.dur!;
        count++;
        const op = n.args?.op_name ?? '?';
        byOp.set(op, (byOp.get(op) ?? 0) + n.dur!);
      }
    }
    const per = (us: number) => Number((us / 1000 / Math.max(runs.length, 1)).toFixed(3));
    return {
      decodeRuns: runs.length,
      runWallMs: per(runs.reduce((a, r) => a + r.dur!, 0)),
      kernelHostMs: per(kernelUs),
      nodesPerRun: runs.length ? count / runs.length : 0,
      topOpsHostMs: Object.fromEntries([...byOp].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([op, us]) => [op, per(us)])),
    };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What moving data costs on this provider: one session.run of a 4-float graph (the fixed cost of a
 * run), and 64 MiB up to the device and back through onnxruntime-node (WebGPU: gpu-buffer outputs).
 */
export async function transfers(device: Gpu): Promise<Record<string, unknown>> {
  const g = new Graph('probe_add');
  const b = new Builder(g);
  const x = b.input('x', 'float32', [4]);
  b.output(b.add(x, x), 'y');
  const tiny = await createSession(g, { device });
  const small = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]);
  const runs: number[] = [];
  for (let i = 0; i < 30; i++) {
    const r0 = performance.now();
    await tiny.run({ x: small });
    runs.push(performance.now() - r0);
  }
  await tiny.release();
  const result: Record<string, unknown> = { tinyRunMs: median(runs.slice(5)) };
  if (device !== 'webgpu') return result;
  const mover = new DeviceTensors({ device }, 1, 1, 1);
  try {
    const n = 16 << 20; // floats: 64 MiB
    const host = new ort.Tensor('float32', new Float32Array(n).fill(1), [1, 1, 1, n]);
    const dummy = new ort.Tensor('float32', new Float32Array(1), [1, 1, 1, 1]);
    const ups: number[] = [];
    const downs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const u0 = performance.now();
      const [onDevice, other] = await mover.uploadKv([host, dummy]);
      ups.push(performance.now() - u0);
      const d0 = performance.now();
      await mover.download([onDevice]);
      downs.push(performance.now() - d0);
      onDevice.dispose();
      other.dispose();
    }
    const mbS = (ms: number) => Math.round((n * 4) / 1e6 / (ms / 1000));
    result.upload64MiBMs = Math.min(...ups);
    result.uploadMBs = mbS(Math.min(...ups));
    result.download64MiBMs = Math.min(...downs);
    result.downloadMBs = mbS(Math.min(...downs));
  } finally {
    await mover.release();
  }
  return result;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const allowSoftware = args.includes('--allow-software');
  const compare = !args.includes('--no-compare');
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
    await stage('transfers', () => transfers(device));
    for (const s of shapes) await stage(`speed_${s}_int4`, () => speed(device, s));
    if (device === 'webgpu' && compare && shapes.includes('1b')) {
      await stage('speed_1b_int4_kvOnHost', () => speed(device, '1b', { kvOnHost: true, decodeOnly: true }));
      await stage('speed_1b_int4_profiled', () => speed(device, '1b', { profile: true, decodeOnly: true }));
    }
    // The same shapes' decode on this machine's CPU: does `device: auto` pick the faster? (last: the slowest stages)
    if (compare) for (const s of shapes) await stage(`speed_${s}_int4_cpu`, () => speed('cpu', s, { decodeOnly: true }));
    console.log(`check:gpu: wrote ${path.relative(ROOT, file)}`);
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`check:gpu: ${(e as Error).message}`);
    process.exit(1);
  });
}
