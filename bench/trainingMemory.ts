// Peak memory and step time of adapter training over a frozen backbone held in its own precision:
// fp32, int8 and int4 side by side for the d512 and 1b bench shapes (bench/shapes.ts), each run in its
// own process so every peak RSS is its own; then an estimate for an 8B Q4 backbone at 512 tokens,
// fitted to 8B-wide models of a few layers that are built and measured here.
//
//   node out/bench/trainingMemory.js [--shapes d512,1b | none] [--precisions fp32,int8,int4] [--seq N] [--steps N]
//        [--threads N] [--estimate-layers 2,3,4 | --no-estimate] [--json]
//
// The models: LLaMA of the shape, text-only (no CLIP: the backbone is what differs between precisions),
// LaVIN's LLM adapters (all trained), random values. Float layers are copies of one random layer
// (distinct memory, generated once: generating 1e9 random floats costs minutes on these cores);
// quantised layers are random codes with scales of quantised N(0, 1/K) weights in MatMulNBits's
// layout (block 128 as `lavin convert` writes; zero point mid-range), so the quantiser's run time is
// not in the bench. The token-embedding table is float32 and held in every precision, except in the
// 8B estimate, where rows are served on demand as from a GGUF file (OpenedBackbone.embeddingRows).
// Recomputation follows the trainer: whole graph under 1e9 frozen parameters, per block above.

import { spawnSync } from 'child_process';
import { LavinConfig, llama1Backbone } from '../server/engine/lavin';
import { QUANT_BLOCK, QuantizedWeight } from '../server/engine/quant';
import { fromFloat32, HostTensor, numel } from '../server/engine/tensor';
import { layoutExample } from '../server/engine/sequence';
import { BlockwiseTrainingStepper } from '../server/train/blockwise';
import { frozenParameterCount, isLinearWeight } from '../server/train/frozenWeights';
import { AdamW } from '../server/train/optim';
import { Rng } from '../server/train/rng';
import { TrainingStepper } from '../server/train/step';
import { randomValues, SEED, SHAPES } from './shapes';

type Precision = 'fp32' | 'int8' | 'int4';
const PRECISIONS: readonly Precision[] = ['fp32', 'int8', 'int4'];

interface Width {
  name: string;
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  ffnHidden: number;
  vocab: number;
}

/** Llama-3-8B's shape (GQA 32/8, FFN 14336, vocabulary 128256). */
const LLAMA3_8B: Width = { name: '8b', dim: 4096, nLayers: 32, nHeads: 32, nKvHeads: 8, ffnHidden: 14336, vocab: 128256 };

function widthOf(shape: string): Width {
  if (shape === '8b') return LLAMA3_8B;
  const s = SHAPES[shape];
  if (!s) throw new Error(`training memory bench: unknown shape "${shape}" (known: ${Object.keys(SHAPES).join(', ')}, 8b)`);
  return { name: s.name, dim: s.dim, nLayers: s.nLayers, nHeads: s.nHeads, nKvHeads: s.nHeads, ffnHidden: s.ffnHidden, vocab: s.vocab };
}

export interface MemoryRunOptions {
  shape: string;
  precision: Precision;
  /** Override the shape's layer count (the 8B estimate's fraction of the layers). */
  layers?: number;
  seqLen: number;
  steps: number;
  threads?: number;
  /** Token-embedding rows served on demand instead of a held float32 table. */
  embeddingRowsOnDemand?: boolean;
  /** Default: the trainer's choice for the full shape (per block from 1e9 frozen parameters). */
  recompute?: 'whole' | 'blockwise';
}

export interface MemoryRunResult {
  shape: string;
  precision: Precision;
  layers: number;
  seqLen: number;
  recompute: 'whole' | 'blockwise';
  /** Bytes of the frozen backbone as held (float tensors + quantised blocks), MB. */
  frozenMB: number;
  /** RSS once the weights are built, before any session, MB. */
  rssWeightsMB: number;
  /** Peak RSS of the process (VmHWM), MB. */
  peakRssMB: number;
  firstStepMs: number;
  /** Median of the timed steps (forward + backward + AdamW); the first step when none is timed. */
  stepMs: number;
  /** CPU time (user + system, all threads) of that step: less sensitive to other load than wall time. */
  stepCpuMs: number;
  steps: number;
}

function configOf(w: Width, layers: number): LavinConfig {
  return {
    llama: { dim: w.dim, nLayers: layers, nHeads: w.nHeads, headDim: w.dim / w.nHeads, ffnHidden: w.ffnHidden, vocab: w.vocab, normEps: 1e-5, ropeTheta: 10000, ...llama1Backbone(w.nHeads), nKvHeads: w.nKvHeads },
    adapter: { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 },
    maxSeqLen: 1024,
  };
}

/** Random MatMulNBits blocks of an [n, k] weight (see the header). */
function randomBlocks(n: number, k: number, bits: 4 | 8, seed: number): QuantizedWeight {
  const blocks = Math.ceil(k / QUANT_BLOCK);
  const blob = (QUANT_BLOCK * bits) / 8;
  const packed = new Uint8Array(n * blocks * blob);
  let s = seed >>> 0 || 1;
  const u32 = new Uint32Array(packed.buffer, 0, packed.length >> 2);
  for (let i = 0; i < u32.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    u32[i] = s;
  }
  const levels = (1 << bits) - 1;
  const scales = new Float32Array(n * blocks).fill((6 / Math.sqrt(k)) / levels); // +-3 std over the code range
  const zpRow = Math.ceil((blocks * bits) / 8);
  const mid = 1 << (bits - 1);
  const zeroPoints = new Uint8Array(n * zpRow).fill(bits === 8 ? mid : mid | (mid << 4));
  return {
    bits, n, k, blockSize: QUANT_BLOCK,
    packed: { dtype: 'uint8', shape: [n, blocks, blob], data: packed },
    scales: { dtype: 'float32', shape: [n * blocks], data: new Uint8Array(scales.buffer) },
    zeroPoints: { dtype: 'uint8', shape: [n * zpRow], data: zeroPoints },
  };
}

/** Names and shapes of the LLaMA part and its adapters. */
function llamaShapes(cfg: LavinConfig): Map<string, number[]> {
  const { dim: D, nLayers, ffnHidden: F, vocab: V, nKvHeads, headDim } = cfg.llama;
  const kv = nKvHeads * headDim;
  const h = cfg.adapter.hidden;
  const m = new Map<string, number[]>([['tok_embeddings.weight', [V, D]], ['norm.weight', [D]], ['output.weight', [V, D]]]);
  for (let l = 0; l < nLayers; l++) {
    const L = `layers.${l}`;
    for (const [w, s] of [['wq', [D, D]], ['wk', [kv, D]], ['wv', [kv, D]], ['wo', [D, D]]] as const) m.set(`${L}.attention.${w}.weight`, [...s]);
    m.set(`${L}.feed_forward.w1.weight`, [F, D]);
    m.set(`${L}.feed_forward.w2.weight`, [D, F]);
    m.set(`${L}.feed_forward.w3.weight`, [F, D]);
    m.set(`${L}.attention_norm.weight`, [D]);
    m.set(`${L}.ffn_norm.weight`, [D]);
    const A = `${L}.adapter_attn`;
    m.set(`${A}.conv_A.weight`, [h, D, 1]);
    m.set(`${A}.conv_A.bias`, [h]);
    for (const k of ['conv_B', 'conv_D']) {
      m.set(`${A}.${k}.weight`, [D, h / cfg.adapter.groups, 1]);
      m.set(`${A}.${k}.bias`, [D]);
    }
    m.set(`${A}.expert_weights.weight`, [2, D]);
    m.set(`${A}.expert_weights.bias`, [2]);
  }
  m.set('adapter_modality_embedding.weight', [2, D]);
  return m;
}

/** Adapter values: every part active (B and D non-zero), small. */
function smallRandom(n: number, seed: number): Float32Array {
  const rng = new Rng(seed + 1);
  return Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 0.04);
}

function mb(bytes: number): number {
  return bytes / (1024 * 1024);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function measureTraining(o: MemoryRunOptions): Promise<MemoryRunResult> {
  const w = widthOf(o.shape);
  const cfg = configOf(w, o.layers ?? w.nLayers);
  const { dim, vocab } = cfg.llama;
  const shapes = llamaShapes(cfg);
  const tensors = new Map<string, HostTensor>();
  const quantized = new Map<string, QuantizedWeight>();
  const bits = o.precision === 'int8' ? 8 : o.precision === 'int4' ? 4 : undefined;
  // One random float tensor per distinct (role, shape), copied into every layer.
  const pool = new Map<string, Float32Array>();
  const floats = (name: string, shape: number[]) => {
    const role = name.replace(/^layers\.\d+\./, 'layers.0.');
    let v = pool.get(role);
    if (!v) {
      v = randomValues(SEED, role, shape);
      pool.set(role, v);
    }
    return role === name ? v : v.slice();
  };
  let frozenBytes = 0;
  for (const [name, shape] of shapes) {
    if (name === 'tok_embeddings.weight' && o.embeddingRowsOnDemand) continue;
    if (bits && isLinearWeight(name)) {
      const q = randomBlocks(shape[0], shape[1], bits, SEED ^ quantized.size);
      quantized.set(name, q);
      frozenBytes += q.packed.data.byteLength + q.scales.data.byteLength + q.zeroPoints.data.byteLength;
      continue;
    }
    const v = name.includes('adapter') ? smallRandom(numel(shape), tensors.size) : floats(name, shape);
    tensors.set(name, fromFloat32(v, shape));
    if (!name.includes('adapter')) frozenBytes += v.byteLength;
  }
  pool.clear();
  const embeddingRows = o.embeddingRowsOnDemand
    ? (ids: readonly number[]) => {
        const out = new Float32Array(ids.length * dim);
        ids.forEach((id, i) => out.set(randomValues(SEED ^ id, 'tok_embeddings.row', [dim]), i * dim));
        return out;
      }
    : undefined;
  const rssWeightsMB = mb(process.memoryUsage().rss);

  const trainable = [...shapes.keys()].filter((k) => k.includes('adapter'));
  const params = new Map(trainable.map((k) => [k, Float32Array.from(new Float32Array(tensors.get(k)!.data.buffer, tensors.get(k)!.data.byteOffset, numel(shapes.get(k)!)))]));
  const optimizer = new AdamW(new Map(trainable.map((k) => [k, shapes.get(k)!])));
  const recompute = o.recompute ?? (frozenParameterCount({ tensors, quantized }) * (w.nLayers / cfg.llama.nLayers) >= 1e9 ? 'blockwise' : 'whole');
  const options = { trainable, seqLen: o.seqLen, frozen: { quantized, embeddingRows }, session: o.threads ? { threads: o.threads } : undefined };
  const stepper = recompute === 'blockwise' ? new BlockwiseTrainingStepper(cfg, tensors, options) : new TrainingStepper(cfg, tensors, options);

  const rng = new Rng(1);
  const T = o.seqLen;
  const ids = [1, ...Array.from({ length: T - 6 }, () => 3 + Math.floor(rng.next() * (vocab - 3)))];
  const ex = layoutExample({ modality: 'text', inputIds: ids, labels: ids.map((id, i) => (i < T / 3 ? 0 : id)) }, { seqLen: T, prefixImage: [5, 6, 7], prefixText: [5, 6, 8, 9], nVisual: 6 });
  const step = async () => {
    const r = await stepper.run(ex, params);
    if (!Number.isFinite(r.loss)) throw new Error(`training memory bench: loss ${r.loss}`);
    optimizer.step(params, r.grads, 1e-4);
  };
  try {
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const t0 = performance.now();
    const c0 = cpu();
    await step();
    const firstStepMs = performance.now() - t0;
    const firstCpuMs = cpu() - c0;
    const times: number[] = [];
    const cpus: number[] = [];
    for (let s = 0; s < o.steps; s++) {
      const t1 = performance.now();
      const c1 = cpu();
      await step();
      times.push(performance.now() - t1);
      cpus.push(cpu() - c1);
    }
    return {
      shape: o.shape, precision: o.precision, layers: cfg.llama.nLayers, seqLen: T, recompute, frozenMB: mb(frozenBytes), rssWeightsMB,
      peakRssMB: process.resourceUsage().maxRSS / 1024, firstStepMs, stepMs: times.length ? median(times) : firstStepMs, stepCpuMs: cpus.length ? median(cpus) : firstCpuMs, steps: times.length,
    };
  } finally {
    await stepper.dispose();
  }
}

// ---- the 8B estimate ------------------------------------------------------------------------------
// Fitted from 2 layers up: with a single layer each per-block session runs once and the peak stays
// lower (measured at 8B width: 1 layer 2172 MB, then 2928, 3034, 3183 MB for 2, 3, 4 layers).

export interface Estimate {
  /** peak(L) = intercept + slope * L, least squares over the measured runs (MB). */
  intercept: number;
  slope: number;
  layers: number;
  estimateMB: number;
  /** The per-layer bytes the slope should be: one layer's int4 blocks + one kept block boundary (MB). */
  expectedSlopeMB: number;
  /** Step CPU time fitted the same way: cpu(L) = cpuIntercept + cpuSlope * L (ms). */
  cpuIntercept: number;
  cpuSlope: number;
  measured: MemoryRunResult[];
}

export function fitEstimate(runs: MemoryRunResult[], width: Width = LLAMA3_8B): Estimate {
  if (runs.length < 2) throw new Error('8B estimate: needs runs at two layer counts');
  const fit = (y: (r: MemoryRunResult) => number) => {
    // least squares over the measured layer counts
    const n = runs.length;
    const mx = runs.reduce((s, r) => s + r.layers, 0) / n;
    const my = runs.reduce((s, r) => s + y(r), 0) / n;
    const slope = runs.reduce((s, r) => s + (r.layers - mx) * (y(r) - my), 0) / runs.reduce((s, r) => s + (r.layers - mx) ** 2, 0);
    return { slope, intercept: my - slope * mx };
  };
  const { slope, intercept } = fit((r) => r.peakRssMB);
  const cpu = fit((r) => r.stepCpuMs);
  const { dim: D, ffnHidden: F, nKvHeads, nHeads } = width;
  const layerWeights = 2 * D * D + 2 * D * (nKvHeads * (D / nHeads)) + 3 * D * F;
  const int4Bytes = layerWeights * (0.5 + 4.5 / QUANT_BLOCK);
  const boundary = runs[0].seqLen * D * 4;
  return { intercept, slope, layers: width.nLayers, estimateMB: intercept + slope * width.nLayers, expectedSlopeMB: mb(int4Bytes + boundary), cpuIntercept: cpu.intercept, cpuSlope: cpu.slope, measured: runs };
}

// ---- table and command line -----------------------------------------------------------------------

export function formatMemoryTable(rows: MemoryRunResult[]): string {
  const head = ['shape', 'precision', 'layers', 'seq', 'recompute', 'frozen weights MB', 'RSS after weights MB', 'peak RSS MB', 'step ms (median)', 'step CPU ms', 'first step ms'];
  const body = rows.map((r) => [r.shape, r.precision, String(r.layers), String(r.seqLen), r.recompute, r.frozenMB.toFixed(0), r.rssWeightsMB.toFixed(0), r.peakRssMB.toFixed(0), r.stepMs.toFixed(0), r.stepCpuMs.toFixed(0), r.firstStepMs.toFixed(0)]);
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((v, i) => (i < 2 || i === 4 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((wd, i) => (i < 2 || i === 4 ? '-'.repeat(wd + 2) : '-'.repeat(wd + 1) + ':')).join('|')}|`, ...body.map(line)].join('\n');
}

interface Cli {
  shapes: string[];
  precisions: Precision[];
  seq?: number;
  steps?: number;
  threads?: number;
  estimateLayers: number[];
  json: boolean;
  worker?: MemoryRunOptions;
}

function parseArgs(argv: string[]): Cli {
  const cli: Cli = { shapes: ['d512', '1b'], precisions: [...PRECISIONS], estimateLayers: [2, 3, 4], json: false };
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--shapes') cli.shapes = (argv[++i] ?? '').split(',').filter((x) => x && x !== 'none');
    else if (a === '--precisions') {
      cli.precisions = (argv[++i] ?? '').split(',') as Precision[];
      if (!cli.precisions.every((p) => PRECISIONS.includes(p))) throw new Error('--precisions takes fp32, int8, int4');
    } else if (a === '--seq') cli.seq = num(a, argv[++i]);
    else if (a === '--steps') cli.steps = num(a, argv[++i]);
    else if (a === '--threads') cli.threads = num(a, argv[++i]);
    else if (a === '--estimate-layers') cli.estimateLayers = (argv[++i] ?? '').split(',').map((v) => num(a, v));
    else if (a === '--no-estimate') cli.estimateLayers = [];
    else if (a === '--json') cli.json = true;
    else if (a === '--worker') cli.worker = JSON.parse(argv[++i]);
    else throw new Error(`unknown argument ${a} (see the header of bench/trainingMemory.ts)`);
  }
  return cli;
}

function runWorker(o: MemoryRunOptions): MemoryRunResult {
  process.stderr.write(`training memory: ${o.shape}${o.layers ? ` (${o.layers} layers)` : ''} ${o.precision}, ${o.seqLen} tokens ...\n`);
  const child = spawnSync(process.execPath, [__filename, '--worker', JSON.stringify(o)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.status !== 0) throw new Error(`training memory bench (${o.shape} ${o.precision}) exited with ${child.status ?? child.signal}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!);
}

/** Default sequence and timed steps per shape (2 shared cores: the 1b step takes tens of seconds). */
const DEFAULTS: Record<string, { seq: number; steps: number }> = { d512: { seq: 128, steps: 3 }, '1b': { seq: 32, steps: 1 } };

export function runMemoryBench(cli: Omit<Cli, 'worker' | 'json'>): { rows: MemoryRunResult[]; estimate?: Estimate } {
  const rows: MemoryRunResult[] = [];
  for (const shape of cli.shapes) {
    for (const precision of cli.precisions) {
      const d = DEFAULTS[shape] ?? { seq: 64, steps: 1 };
      rows.push(runWorker({ shape, precision, seqLen: cli.seq ?? d.seq, steps: cli.steps ?? d.steps, threads: cli.threads }));
    }
  }
  let estimate: Estimate | undefined;
  if (cli.estimateLayers.length >= 2) {
    const runs = cli.estimateLayers.map((layers) => runWorker({ shape: '8b', precision: 'int4', layers, seqLen: 512, steps: 0, threads: cli.threads, embeddingRowsOnDemand: true }));
    estimate = fitEstimate(runs);
  }
  return { rows, estimate };
}

export function describeEstimate(e: Estimate): string {
  const pts = e.measured.map((r) => `${r.layers} layer${r.layers > 1 ? 's' : ''}: peak ${r.peakRssMB.toFixed(0)} MB, step ${(r.stepMs / 1000).toFixed(0)} s wall / ${(r.stepCpuMs / 1000).toFixed(0)} s CPU`).join('; ');
  return [
    `8B Q4 estimate (Llama-3-8B shape, int4 blocks of ${QUANT_BLOCK}, 512 tokens, per-block recomputation, embedding rows read on demand):`,
    `  measured at 8B width: ${pts}`,
    `  peak(L) = ${e.intercept.toFixed(0)} MB + L x ${e.slope.toFixed(0)} MB  (slope expected from sizes: ${e.expectedSlopeMB.toFixed(0)} MB = one layer's int4 blocks + one kept ${e.measured[0].seqLen}x4096 float boundary)`,
    `  => L = ${e.layers}: ${(e.estimateMB / 1024).toFixed(1)} GB peak RSS`,
    `  step CPU time fitted the same way: ${(e.cpuIntercept / 1000).toFixed(1)} s + L x ${(e.cpuSlope / 1000).toFixed(2)} s = ${((e.cpuIntercept + e.cpuSlope * e.layers) / 1000).toFixed(0)} s per 512-token example at L = ${e.layers} (CPU time also swells under other load: read it as rough)`,
  ].join('\n');
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  if (cli.worker) {
    process.stdout.write(JSON.stringify(await measureTraining(cli.worker)) + '\n');
    return;
  }
  const { rows, estimate } = runMemoryBench(cli);
  if (cli.json) {
    console.log(JSON.stringify({ rows, estimate }, null, 2));
    return;
  }
  if (rows.length) console.log(formatMemoryTable(rows));
  if (estimate) console.log('\n' + describeEstimate(estimate));
  console.log('\nOne process per row; peak RSS = the process\'s VmHWM. Run on 2 cores shared with other work: times vary with the load.');
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
