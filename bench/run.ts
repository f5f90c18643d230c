// `npm run bench`: this engine vs llama.cpp (node-llama-cpp's prebuilt CPU binary) on random-weight
// LLaMA models of the same shapes and weights, at matching precisions, alternating in one run.
//
//   node out/bench/run.js [--shapes d512,1b] [--precisions fp32,fp16,int8,int4] [--threads 2]
//                         [--prefill 512] [--decode N] [--no-image] [--out bench/results/latest.json]
//                         [--same-file q4_0,q8_0,q4_k_m | --no-same-file] [--only-same-file]
//
// The "same file" section writes one GGUF file per type (Q4_0, Q8_0, a Q4_K_M-like mix: Q4_K with
// Q6_K for attn_v, ffn_down and the head) and runs both engines on that very file: ours opens it as
// `lavin ask --model FILE.gguf` does (quantised blocks re-blocked into MatMulNBits, no conversion).
//
// Models are prepared once under bench/results/tmp/models (converted ONNX folders and GGUF files;
// re-runs reuse them, interrupted preparation resumes). Each measurement runs in a fresh process.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { convertModel } from '../server/engine/convertedCopy';
import { Builder } from '../server/engine/graph/builder';
import { Graph } from '../server/engine/graph/graph';
import { createSession, f32 } from '../server/engine/session';
import { Kernels } from '../server/engine/programs';
import { cpuBytesPerWeight, dequantizeWeight, QUANT_BLOCK, quantizeWeight, WeightFormat } from '../server/engine/quant';
import { fromFloat32 } from '../server/engine/tensor';
import { decodeTensor, encodeTensor, GgufType, Q4_K_M_MIX, writeLlamaGguf } from './gguf';
import { BenchShape, benchConfig, lazyRandomTensors, llamaParameters, randomValues, SEED, SHAPES, WEIGHTS_VERSION } from './shapes';
import type { WorkerArgs, WorkerResult } from './worker';
import type { OcrBenchResult } from './ocr';
import { describeEstimate, type Estimate, type MemoryRunResult } from './trainingMemory';
import { LavinRuntime, PREFILL_CHUNK } from '../server/engine/runtime';
import { llamaLinearParameters } from '../server/engine/memory';

const ROOT = path.resolve(__dirname, '../..');
const MODELS = path.join(ROOT, 'bench/results/tmp/models');
const GGUF_TYPE: Record<WeightFormat, GgufType> = { fp32: 'f32', fp16: 'f16', int8: 'q8_0', int4: 'q4_0' };

/** llama.cpp's bytes per linear weight in memory (ours: cpuBytesPerWeight). */
const LLAMACPP_BYTES_PER_PARAM: Record<WeightFormat, number> = { fp32: 4, fp16: 2, int8: 34 / 32, int4: 18 / 32 };

export interface Row {
  shape: string;
  precision: WeightFormat;
  metric: string;
  ours: number | null;
  llamacpp: number | null;
  ratio: number | null;
}

interface Options {
  shapes: BenchShape[];
  precisions: WeightFormat[];
  threads: number;
  prefill: number;
  decode?: number;
  image: boolean;
  /**
   * Also time both engines in one process, alternating call by call (off by default: measured,
   * each engine's spinning worker threads then slow the other, llama.cpp's much more).
   */
  paired: boolean;
  /** Alternating rounds per precision (default: per shape); each metric keeps its best round. */
  rounds?: number;
  kernels: Kernels;
  /** Write the models (converted folders, GGUF files) and stop. */
  prepareOnly?: boolean;
  /** GGUF types of the "same file" section (empty: none). */
  sameFile: SameFileType[];
  /** Only the "same file" section (no converted models, no training row). */
  onlySameFile: boolean;
  out: string;
}

type SameFileType = 'q4_0' | 'q8_0' | 'q4_k_m';
const SAME_FILE_TYPES: readonly SameFileType[] = ['q4_0', 'q8_0', 'q4_k_m'];

function parseArgs(argv: string[]): Options {
  const o: Options = { shapes: [SHAPES.d512, SHAPES['1b']], precisions: ['fp32', 'fp16', 'int8', 'int4'], threads: 2, prefill: 512, image: true, kernels: 'fused', paired: false, sameFile: [...SAME_FILE_TYPES], onlySameFile: false, out: path.join(ROOT, 'bench/results/latest.json') };
  for (let i = 0; i < argv.length; i++) {
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${argv[i - 1]} needs a value`);
      return v;
    };
    const a = argv[i];
    if (a === '--shapes') o.shapes = next().split(',').map((s) => {
      if (!SHAPES[s]) throw new Error(`bench: unknown shape "${s}" (known: ${Object.keys(SHAPES).join(', ')})`);
      return SHAPES[s];
    });
    else if (a === '--precisions') o.precisions = next().split(',').map((p) => {
      if (!(p in GGUF_TYPE)) throw new Error(`bench: unknown precision "${p}" (fp32, fp16, int8, int4)`);
      return p as WeightFormat;
    });
    else if (a === '--threads') o.threads = Number(next());
    else if (a === '--prefill') o.prefill = Number(next());
    else if (a === '--decode') o.decode = Number(next());
    else if (a === '--no-image') o.image = false;
    else if (a === '--rounds') o.rounds = Number(next());
    else if (a === '--paired') o.paired = true;
    else if (a === '--kernels') {
      const k = next();
      if (k !== 'plain' && k !== 'fused') throw new Error(`bench: --kernels must be plain or fused, not "${k}"`);
      o.kernels = k;
    }
    else if (a === '--prepare-only') o.prepareOnly = true;
    else if (a === '--same-file') o.sameFile = next().split(',').map((t) => {
      if (!(SAME_FILE_TYPES as readonly string[]).includes(t)) throw new Error(`bench: unknown same-file type "${t}" (${SAME_FILE_TYPES.join(', ')})`);
      return t as SameFileType;
    });
    else if (a === '--no-same-file') o.sameFile = [];
    else if (a === '--only-same-file') o.onlySameFile = true;
    else if (a === '--out') o.out = path.resolve(next());
    else throw new Error(`bench: unknown argument ${a}`);
  }
  return o;
}

const printers = new Map<string, (done: number, total: number) => void>();

/** A printer of 10% steps per label (one per part being written). */
function progress(label: string): (done: number, total: number) => void {
  const known = printers.get(label);
  if (known) return known;
  let last = -1;
  const print = (done: number, total: number) => {
    const pct = Math.floor((100 * done) / total);
    if (pct !== last && (pct % 10 === 0 || done === total)) {
      last = pct;
      process.stderr.write(`  ${label}: ${pct}%\n`);
    }
    if (done >= total) printers.delete(label);
  };
  printers.set(label, print);
  return print;
}

/** Converted ONNX folders (ours) and GGUF files (llama.cpp) for one shape; reused when present. */
async function prepare(shape: BenchShape, precisions: WeightFormat[], kernels: Kernels): Promise<Map<WeightFormat, { ours: string; gguf: string }>> {
  const cfg = benchConfig(shape);
  const dir = path.join(MODELS, shape.name);
  fs.mkdirSync(dir, { recursive: true });
  const out = new Map<WeightFormat, { ours: string; gguf: string }>();
  // Only what defines the weights (not the shape's timing settings: changing those re-converted everything).
  const { dim, nLayers, nHeads, ffnHidden, vocab } = shape;
  const source = `random:seed=${SEED}:${WEIGHTS_VERSION}:llama=${JSON.stringify({ dim, nLayers, nHeads, ffnHidden, vocab })}`;
  let visionFrom: string | undefined;
  for (const precision of precisions) {
    const ours = path.join(dir, `ours-${precision}`);
    // The ViT is float32 in every precision: convert it once and hard-link it into the others.
    if (visionFrom && !fs.existsSync(path.join(ours, 'vision.onnx'))) {
      fs.mkdirSync(ours, { recursive: true });
      for (const f of ['vision.onnx', 'vision.onnx.data', 'vision.onnx.done']) {
        if (fs.existsSync(path.join(visionFrom, f))) fs.linkSync(path.join(visionFrom, f), path.join(ours, f));
      }
    }
    process.stderr.write(`prepare ${shape.name} ${precision}: ${ours}\n`);
    await convertModel(cfg, lazyRandomTensors(cfg), ours, {
      weights: precision,
      kernels,
      source,
      onProgress: (p) => {
        if (p.skipped) process.stderr.write(`  ${p.part}: already converted\n`);
        else if (p.phase === 'build') { if (p.done % 50 === 0) process.stderr.write(`  ${p.part}: ${p.done} parameters read and converted\n`); }
        else progress(p.part)(p.done, p.total);
      },
    });
    visionFrom ??= ours;
    // What a user's first start does for int8/int4 (LavinModel.load): save and check onnxruntime's
    // repacked weights, so the timed opens below are the later, usual starts.
    const rt = await LavinRuntime.open(ours, { threads: 2 }, { packed: 'write', log: (m) => process.stderr.write(`  ${m}\n`) });
    await rt.dispose();
    const gguf = path.join(dir, `llama-${GGUF_TYPE[precision]}.gguf`);
    if (!fs.existsSync(gguf)) {
      process.stderr.write(`prepare ${shape.name} ${precision}: ${gguf}\n`);
      writeLlamaGguf(gguf, {
        name: `bench-${shape.name}`, dim: shape.dim, nLayers: shape.nLayers, nHeads: shape.nHeads, ffnHidden: shape.ffnHidden, vocab: shape.vocab,
        normEps: 1e-6, contextLength: cfg.maxSeqLen, type: GGUF_TYPE[precision],
        values: (name, s) => randomValues(SEED, name, s),
      }, progress('gguf'));
    }
    out.set(precision, { ours, gguf });
  }
  return out;
}

/** One GGUF file of the shape's weights in a "same file" type (written once, reused). */
function prepareSameFile(shape: BenchShape, type: SameFileType): string {
  const dir = path.join(MODELS, shape.name);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `same-${type}.gguf`);
  if (!fs.existsSync(file)) {
    process.stderr.write(`prepare ${shape.name} same file ${type}: ${file}\n`);
    writeLlamaGguf(file, {
      name: `bench-${shape.name}-${type}`, dim: shape.dim, nLayers: shape.nLayers, nHeads: shape.nHeads, ffnHidden: shape.ffnHidden, vocab: shape.vocab,
      normEps: 1e-6, contextLength: benchConfig(shape).maxSeqLen, type: type === 'q4_k_m' ? 'q4_k' : type, typeOf: type === 'q4_k_m' ? Q4_K_M_MIX : undefined,
      fileType: type === 'q4_k_m' ? 15 : undefined,
      values: (name, s) => randomValues(SEED, name, s),
    }, progress('gguf'));
  }
  return file;
}

function runWorker<R = WorkerResult>(args: WorkerArgs): R {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'worker.js'), JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`bench worker (${args.engine}, ${args.model}) failed with status ${r.status}:\n${r.stderr.slice(-4000)}`);
  return JSON.parse(line.slice(7));
}

/**
 * Memory read bandwidth in GB/s with `threads` threads: onnxruntime summing 512 MiB of float32
 * (best of 5): what a decode step that streams every weight once can at most achieve.
 */
export async function readBandwidth(threads: number): Promise<number> {
  const n = 128 << 20;
  const g = new Graph('read_bandwidth');
  const b = new Builder(g);
  b.output(b.reduceSum(b.input('x', 'float32', [n]), [0], false), 'y');
  const session = await createSession(g, { threads });
  const x = f32(new Float32Array(n).fill(1), [n]);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await session.run({ x });
    best = Math.min(best, performance.now() - t0);
  }
  await session.release();
  return (4 * n) / (best / 1000) / 1e9;
}

/** Per metric, the better of two rounds (the one least disturbed by other processes). */
function bestOf(a: WorkerResult, b: WorkerResult): WorkerResult {
  const min = (x?: number, y?: number) => (x === undefined ? y : y === undefined ? x : Math.min(x, y));
  return {
    loadMs: Math.min(a.loadMs, b.loadMs),
    prefillTokS: Math.max(a.prefillTokS, b.prefillTokS),
    decodeTokS: Math.max(a.decodeTokS, b.decodeTokS),
    decodeMeanTokS: Math.max(a.decodeMeanTokS, b.decodeMeanTokS),
    decodeAfterPromptTokS: a.decodeAfterPromptTokS === undefined || b.decodeAfterPromptTokS === undefined ? a.decodeAfterPromptTokS ?? b.decodeAfterPromptTokS : Math.max(a.decodeAfterPromptTokS, b.decodeAfterPromptTokS),
    ttftImageMs: min(a.ttftImageMs, b.ttftImageMs),
    peakRssMb: Math.max(a.peakRssMb, b.peakRssMb),
    peakRssImageMb: a.peakRssImageMb ?? b.peakRssImageMb,
    tokens: a.tokens,
    engineInfo: a.engineInfo ?? b.engineInfo,
  };
}

function leadingEqual(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * Relative RMS error of one layer's W1 as each engine stores it (same random weights), so a speed
 * ratio is read beside what each format costs in accuracy.
 */
function weightError(shape: BenchShape, precision: WeightFormat): { ours: number; llamacpp: number } {
  const dims = [shape.ffnHidden, shape.dim];
  const w = randomValues(SEED, 'layers.0.feed_forward.w1.weight', dims);
  const rel = (got: Float32Array) => {
    let e = 0;
    let s = 0;
    for (let i = 0; i < w.length; i++) {
      e += (got[i] - w[i]) ** 2;
      s += w[i] ** 2;
    }
    return Math.sqrt(e / s);
  };
  const bits = precision === 'int8' ? 8 : 4;
  return {
    ours: rel(dequantizeWeight(quantizeWeight(fromFloat32(w, dims), bits, 'w1'))),
    llamacpp: rel(decodeTensor(GGUF_TYPE[precision], encodeTensor(GGUF_TYPE[precision], w))),
  };
}

/**
 * The CPU model and the instruction sets that decide which kernels each engine can use: llama.cpp
 * has AMX tiles for q4_0/q8_0 and repacked AVX-512 GEMV; onnxruntime's MatMulNBits has neither.
 */
function cpuSummary(): string {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const model = /model name\s*:\s*(.+)/.exec(info)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
    const flags = new Set((/flags\s*:\s*(.+)/.exec(info)?.[1] ?? '').split(/\s+/));
    const have = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx_int8'].filter((f) => flags.has(f));
    return `${model}, ${os.cpus().length} logical CPUs, ${have.join(' ') || 'none of avx2/avx512/amx'}`;
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

function fmt(v: number | null): string {
  return v === null ? '-' : v.toFixed(Math.abs(v) < 10 ? 2 : 1);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const rows: Row[] = [];
  const push = (shape: string, precision: WeightFormat, metric: string, ours: number | null, llamacpp: number | null) =>
    rows.push({ shape, precision, metric, ours, llamacpp, ratio: ours !== null && llamacpp !== null && llamacpp > 0 ? ours / llamacpp : null });

  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const loadBefore = load();
  const bandwidth = await readBandwidth(o.threads);
  const agreement: string[] = [];
  let llamaCppInfo = '';
  process.stderr.write(`read bandwidth (${o.threads} threads): ${bandwidth.toFixed(1)} GB/s\n`);
  for (const shape of o.onlySameFile ? [] : o.shapes) {
    const models = await prepare(shape, o.precisions, o.kernels);
    if (o.prepareOnly) continue;
    const decode = o.decode ?? shape.decodeTokens;
    for (const [i, precision] of o.precisions.entries()) {
      const m = models.get(precision)!;
      const base = { threads: o.threads, prefill: o.prefill, decode, decodeAfterPrompt: Math.min(decode, 16), prefillRepeats: shape.prefillRepeats, vocab: shape.vocab };
      // Alternate which engine goes first so neither always runs on a warmer (or busier) machine.
      const order: ('ours' | 'llamacpp')[] = i % 2 === 0 ? ['ours', 'llamacpp'] : ['llamacpp', 'ours'];
      const res: Partial<Record<'ours' | 'llamacpp', WorkerResult>> = {};
      const rounds = o.rounds ?? shape.rounds;
      for (let round = 0; round < rounds; round++) {
        for (const engine of order) {
          process.stderr.write(`run ${shape.name} ${precision} ${engine} round ${round + 1}/${rounds} (prefill ${o.prefill}, decode ${decode})\n`);
          const r = runWorker({ ...base, engine, model: engine === 'ours' ? m.ours : m.gguf, image: engine === 'ours' && o.image && round === 0 });
          process.stderr.write(`  ${JSON.stringify(r)}\n`);
          res[engine] = res[engine] ? bestOf(res[engine]!, r) : r;
        }
      }
      const a = res.ours!;
      const b = res.llamacpp!;
      llamaCppInfo ||= b.engineInfo ?? '';
      // Optional: both engines in one process, alternating every call; each keeps its best round.
      let pair: { ours: WorkerResult; llamacpp: WorkerResult } | undefined;
      if (o.paired) {
        for (let round = 0; round < rounds; round++) {
          process.stderr.write(`run ${shape.name} ${precision} paired round ${round + 1}/${rounds}\n`);
          const r = runWorker<{ ours: WorkerResult; llamacpp: WorkerResult }>({ ...base, engine: 'paired', model: m.ours, gguf: m.gguf, image: false });
          process.stderr.write(`  ours ${JSON.stringify({ ...r.ours, tokens: undefined })}\n  llama.cpp ${JSON.stringify({ ...r.llamacpp, tokens: undefined })}\n`);
          pair = pair ? { ours: bestOf(pair.ours, r.ours), llamacpp: bestOf(pair.llamacpp, r.llamacpp) } : r;
        }
      }
      const p = pair ?? { ours: a, llamacpp: b };
      push(shape.name, precision, 'prefill_tok_s', p.ours.prefillTokS, p.llamacpp.prefillTokS);
      push(shape.name, precision, 'decode_tok_s', p.ours.decodeTokS, p.llamacpp.decodeTokS);
      push(shape.name, precision, 'decode_mean_tok_s', p.ours.decodeMeanTokS, p.llamacpp.decodeMeanTokS);
      push(shape.name, precision, 'decode_after_prompt_tok_s', p.ours.decodeAfterPromptTokS ?? null, p.llamacpp.decodeAfterPromptTokS ?? null);
      if (pair) {
        push(shape.name, precision, 'prefill_tok_s_separate', a.prefillTokS, b.prefillTokS);
        push(shape.name, precision, 'decode_tok_s_separate', a.decodeTokS, b.decodeTokS);
      }
      const weights = llamaLinearParameters(shape);
      push(shape.name, precision, 'decode_bound_tok_s', (bandwidth * 1e9) / (weights * cpuBytesPerWeight(precision)), (bandwidth * 1e9) / (weights * LLAMACPP_BYTES_PER_PARAM[precision]));
      if (precision === 'int8' || precision === 'int4') {
        const err = weightError(shape, precision);
        push(shape.name, precision, 'weight_rel_rms_error_pct', 100 * err.ours, 100 * err.llamacpp);
      }
      push(shape.name, precision, 'ttft_image_ms', a.ttftImageMs ?? null, null);
      // Same weights, same model: leading greedy tokens both engines agree on (of those compared).
      const same = leadingEqual(a.tokens, b.tokens);
      push(shape.name, precision, 'greedy_tokens_equal', same, Math.min(a.tokens.length, b.tokens.length));
      agreement.push(`${shape.name} ${precision}: ${same}/${Math.min(a.tokens.length, b.tokens.length)}`);
      if (pair && leadingEqual(pair.ours.tokens, pair.llamacpp.tokens) !== same) process.stderr.write(`warning: ${shape.name} ${precision}: greedy agreement differs between the paired and separate runs\n`);
      push(shape.name, precision, 'peak_rss_mb', a.peakRssMb, b.peakRssMb);
      push(shape.name, precision, 'peak_rss_with_vit_mb', a.peakRssImageMb ?? null, null);
      push(shape.name, precision, 'load_ms', a.loadMs, b.loadMs);
    }
  }

  // The "same file" section: both engines on one GGUF file per type (ours through openBackbone).
  const sameFileAgreement: string[] = [];
  for (const shape of o.shapes) {
    for (const [i, type] of o.sameFile.entries()) {
      const file = prepareSameFile(shape, type);
      if (o.prepareOnly) continue;
      const decode = o.decode ?? shape.decodeTokens;
      const base = { threads: o.threads, prefill: o.prefill, decode, decodeAfterPrompt: Math.min(decode, 16), prefillRepeats: shape.prefillRepeats, vocab: shape.vocab, image: false, model: file };
      const order: ('ours' | 'llamacpp')[] = i % 2 === 0 ? ['ours', 'llamacpp'] : ['llamacpp', 'ours'];
      const res: Partial<Record<'ours' | 'llamacpp', WorkerResult>> = {};
      const rounds = o.rounds ?? shape.rounds;
      for (let round = 0; round < rounds; round++) {
        for (const engine of order) {
          process.stderr.write(`run ${shape.name} same file ${type} ${engine} round ${round + 1}/${rounds}\n`);
          const r = runWorker({ ...base, engine });
          process.stderr.write(`  ${JSON.stringify(r)}\n`);
          res[engine] = res[engine] ? bestOf(res[engine]!, r) : r;
        }
      }
      const [a, b] = [res.ours!, res.llamacpp!];
      const label = `${shape.name} ${type.toUpperCase()} file`;
      const precision: WeightFormat = type === 'q8_0' ? 'int8' : 'int4';
      push(label, precision, 'prefill_tok_s', a.prefillTokS, b.prefillTokS);
      push(label, precision, 'decode_tok_s', a.decodeTokS, b.decodeTokS);
      push(label, precision, 'decode_after_prompt_tok_s', a.decodeAfterPromptTokS ?? null, b.decodeAfterPromptTokS ?? null);
      push(label, precision, 'load_ms', a.loadMs, b.loadMs);
      push(label, precision, 'peak_rss_mb', a.peakRssMb, b.peakRssMb);
      const same = leadingEqual(a.tokens, b.tokens);
      push(label, precision, 'greedy_tokens_equal', same, Math.min(a.tokens.length, b.tokens.length));
      sameFileAgreement.push(`${label}: ${same}/${Math.min(a.tokens.length, b.tokens.length)}`);
    }
  }

  if (o.prepareOnly) return;
  // Training (issue: fine-tune the adapters): one optimizer step through frozen LLaMA and CLIP, per
  // modality, in its own process (bench/trainingRow.ts). Ours only: llama.cpp does not train.
  const training = o.onlySameFile ? undefined : spawnSync(process.execPath, [path.join(__dirname, 'trainingRow.js'), '--json', '--threads', String(o.threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (training && training.status !== 0) throw new Error(`training bench failed with status ${training.status}`);
  for (const t of training ? JSON.parse(training.stdout) : [] as { modality: string; dim: number; layers: number; seqLen: number; stepMs: number; tokensPerSecond: number; peakRssMB: number }[]) {
    const shape = `d${t.dim}x${t.layers} T${t.seqLen}`;
    push(shape, 'fp32', `train_${t.modality}_step_ms`, t.stepMs, null);
    push(shape, 'fp32', `train_${t.modality}_tokens_s`, t.tokensPerSecond, null);
    push(shape, 'fp32', `train_${t.modality}_peak_rss_mb`, t.peakRssMB, null);
  }
  // Training over the frozen backbone in its own precision (issue 14): peak RSS and step time at
  // fp32/int8/int4, and the 8B Q4 estimate, each run in its own process (bench/trainingMemory.ts).
  const memory = o.onlySameFile ? undefined : spawnSync(process.execPath, [path.join(__dirname, 'trainingMemory.js'), '--json', '--threads', String(o.threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (memory && memory.status !== 0) throw new Error(`training memory bench failed with status ${memory.status}`);
  const trainingMemory = memory ? (JSON.parse(memory.stdout) as { rows: MemoryRunResult[]; estimate?: Estimate }) : undefined;
  for (const r of trainingMemory?.rows ?? []) {
    const shape = `${r.shape} train T${r.seqLen}`;
    push(shape, r.precision, 'train_peak_rss_mb', r.peakRssMB, null);
    push(shape, r.precision, 'train_step_ms', r.stepMs, null);
    push(shape, r.precision, 'train_step_cpu_ms', r.stepCpuMs, null);
  }
  if (trainingMemory?.estimate) push('8b train T512 (estimate)', 'int4', 'train_peak_rss_mb', trainingMemory.estimate.estimateMB, null);
  // OCR (issue 13): reading an 800x480 screenshot, in its own process (bench/ocr.ts); not with --only-same-file.
  const ocrRun = o.onlySameFile ? undefined : spawnSync(process.execPath, [path.join(__dirname, 'ocr.js'), '--json', '--runs', '3', '--threads', String(o.threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (ocrRun && ocrRun.status !== 0) throw new Error(`OCR bench failed with status ${ocrRun.status}`);
  const ocr = ocrRun ? JSON.parse(ocrRun.stdout) as OcrBenchResult : undefined;
  if (ocr) {
    push('ocr 800x480', 'fp32', 'ocr_ms', ocr.ocrMs, null);
    push('embedded', 'fp32', 'ttft_image_with_ocr_ms', ocr.ttftEmbeddedMs, null);
    for (const r of rows.filter((x) => x.metric === 'ttft_image_ms' && x.ours !== null)) push(r.shape, r.precision, 'ttft_image_with_ocr_ms', r.ours! + ocr.ocrMs, null);
  }
  const loadAfter = load();
  const header = ['shape', 'precision', 'metric', 'ours', 'llama.cpp', 'ours/llama.cpp'];
  const lines = rows.map((r) => [r.shape, r.precision, r.metric, fmt(r.ours), fmt(r.llamacpp), r.ratio === null ? '-' : r.ratio.toFixed(2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const show = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(show(header));
  for (const l of lines) console.log(show(l));
  console.log(`\nrounds (ours, llama.cpp alternating; best round per metric): ${o.shapes.map((s) => `${s.name} ${o.rounds ?? s.rounds}`).join(', ')}.`);
  console.log(`our decoder kernels: ${o.kernels}; threads ${o.threads}; prefill ${o.prefill} tokens (ours in calls of ${PREFILL_CHUNK}, llama.cpp in batches of 512; fastest of ${o.shapes.map((s) => `${s.name} ${s.prefillRepeats}`).join(', ')} runs);`);
  console.log(o.paired
    ? 'prefill_tok_s, decode_tok_s, decode_mean_tok_s: both engines in one process, alternating call by call (same machine load); *_separate: each engine alone in its own process.'
    : 'rates: each engine alone in its own process.');
  console.log(`decode tokens per shape: ${o.shapes.map((s) => `${s.name} ${o.decode ?? s.decodeTokens}`).join(', ')}; decode_tok_s = 1 / median step, decode_mean_tok_s = tokens / total time.`);
  console.log(`decode_after_prompt_tok_s: 1 / median step of ${o.shapes.map((s) => `${s.name} ${Math.min(o.decode ?? s.decodeTokens, 16)}`).join(', ')} steps after BOS + the ${o.prefill}-token prompt (decode with that much context).`);
  console.log(`LLaMA parameters: ${o.shapes.map((s) => `${s.name} ${(llamaParameters(s) / 1e6).toFixed(0)}M`).join(', ')}; read bandwidth (${o.threads} threads, onnxruntime ReduceSum over 512 MiB) ${bandwidth.toFixed(1)} GB/s.`);
  console.log('decode_bound_tok_s = bandwidth / bytes of linear weights read per token, each engine in its own in-memory format.');
  console.log(`weight_rel_rms_error_pct: layer 0's W1 as each engine stores it vs float32, 100 * RMS(error) / RMS(weight) (ours: asymmetric blocks of ${QUANT_BLOCK}; llama.cpp: q8_0/q4_0, blocks of 32).`);
  console.log(`CPU: ${cpuSummary()}. llama.cpp's CPU backend: ${llamaCppInfo || 'unknown'}`);
  console.log(`load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter} (the 2 cores are shared with other processes).`);
  console.log('peak_rss_mb: the text path (ours before the ViT loads); peak_rss_with_vit_mb: ours with the CLIP ViT-L/14 session loaded.');
  console.log(`greedy_tokens_equal (ours = leading decode tokens identical to llama.cpp's, llama.cpp column = tokens compared): ${agreement.join('; ')}.`);
  if (sameFileAgreement.length) console.log(`"<shape> <TYPE> file" rows: both engines load that one GGUF file (ours as lavin ask --model FILE.gguf does); greedy agreement ${sameFileAgreement.join('; ')}.`);
  if (trainingMemory?.estimate) console.log(describeEstimate(trainingMemory.estimate));
  console.log('ttft_image_ms: ours only (CLIP ViT-L/14 + 64-token prompt prefill + first token); node-llama-cpp has no image input.');
  if (ocr) console.log(`ocr_ms: reading ${ocr.image} (${ocr.lines} lines; median of 3 after a warm-up). ttft_image_with_ocr_ms: embedded = measured end to end through the model host (request to first token, ${ocr.promptTokens}-token prompt with the read text); per shape = ttft_image_ms + ocr_ms (the read text's ${ocr.imageTextChars} characters lengthen that prompt, not included).`);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify(rows, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), o.out)}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
