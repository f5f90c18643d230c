// Training throughput row for the bench: one optimizer step (forward + backward through the whole
// LaVIN training graph + AdamW, batch 1) of a random-weight LaVIN built in memory: a LLaMA-shaped
// decoder (default dim 512, 8 layers), a small CLIP ViT and LaVIN's adapters, all adapters trained.
//
//   node out/bench/trainingRow.js [--steps 5] [--seq 128] [--threads N] [--modality text,image] [--recompute whole|blockwise] [--json]
//
// Each modality runs in its own process, so every row's peak RSS is its own.

import { spawnSync } from 'child_process';
import { LavinConfig } from '../server/engine/lavin';
import { HostTensor, numel } from '../server/engine/tensor';
import { AdamW } from '../server/train/optim';
import { Rng } from '../server/train/rng';
import { layoutExample, Modality, TokenizedExample } from '../server/engine/sequence';
import { BlockwiseTrainingStepper } from '../server/train/blockwise';
import { TrainingStepper } from '../server/train/step';
import { parameterShapes, randomValues, SEED } from './shapes';

export interface TrainingBenchOptions {
  dim?: number;
  layers?: number;
  heads?: number;
  ffnHidden?: number;
  vocab?: number;
  /** LLM positions per example (modality token included). */
  seqLen?: number;
  /** Timed optimizer steps (after one untimed warm-up step that also builds the session). */
  steps?: number;
  modality?: Modality;
  /** CPU threads for onnxruntime (default: its own choice, all cores). */
  threads?: number;
  /** Adapter dropout as in LaVIN (default 0.1). */
  dropout?: number;
  /** The whole-graph stepper (default) or per-block recomputation (train/blockwise.ts). */
  recompute?: 'whole' | 'blockwise';
}

export interface TrainingBenchResult {
  modality: Modality;
  recompute: 'whole' | 'blockwise';
  dim: number;
  layers: number;
  seqLen: number;
  steps: number;
  /** Median ms per optimizer step (forward + backward + AdamW). */
  stepMs: number;
  minStepMs: number;
  /** seqLen tokens per step, at the median step time. */
  tokensPerSecond: number;
  /** Graph build + session creation + first step. */
  firstStepMs: number;
  /** Peak resident set of this process so far, MB. */
  peakRssMB: number;
  trainableParameters: number;
  frozenParameters: number;
}

/** LaVIN around a LLaMA shape with a small CLIP (ViT 128 wide, 12 blocks, patch 14 at 224 px). */
export function trainingBenchConfig(o: Required<Pick<TrainingBenchOptions, 'dim' | 'layers' | 'heads' | 'ffnHidden' | 'vocab'>>): LavinConfig {
  if (o.dim % o.heads !== 0) throw new Error(`training bench: dim ${o.dim} is not a multiple of heads ${o.heads}`);
  return {
    llama: { dim: o.dim, nLayers: o.layers, nHeads: o.heads, headDim: o.dim / o.heads, ffnHidden: o.ffnHidden, vocab: o.vocab, normEps: 1e-6, ropeTheta: 10000 },
    clip: { width: 128, layers: 12, heads: 4, patch: 14, resolution: 224, layerNormEps: 1e-5 },
    adapter: { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 },
    maxSeqLen: 512,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in kB
}

export async function benchTrainingStep(opts: TrainingBenchOptions = {}): Promise<TrainingBenchResult> {
  const dim = opts.dim ?? 512;
  const layers = opts.layers ?? 8;
  const seqLen = opts.seqLen ?? 128;
  const steps = opts.steps ?? 5;
  const modality = opts.modality ?? 'text';
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`training bench: steps must be a positive integer, got ${steps}`);
  const cfg = trainingBenchConfig({ dim, layers, heads: opts.heads ?? Math.max(1, dim / 64), ffnHidden: opts.ffnHidden ?? 3 * dim, vocab: opts.vocab ?? 32000 });
  const nv = cfg.adapter.nVisualTokens;
  if (!Number.isInteger(seqLen) || seqLen < nv + 8 || seqLen > cfg.maxSeqLen) throw new Error(`training bench: seqLen must be an integer in ${nv + 8}..${cfg.maxSeqLen}, got ${seqLen}`);

  const tensors = new Map<string, HostTensor>();
  const trainable: string[] = [];
  let frozenParameters = 0;
  let trainableParameters = 0;
  for (const [name, shape] of parameterShapes(cfg)) {
    const v = randomValues(SEED, name, shape);
    tensors.set(name, { dtype: 'float32', shape, data: new Uint8Array(v.buffer) });
    if (name.includes('adapter')) {
      trainable.push(name);
      trainableParameters += numel(shape);
    } else frozenParameters += numel(shape);
  }
  const params = new Map(trainable.map((k) => [k, new Float32Array(tensors.get(k)!.data.slice().buffer)]));
  const shapes = new Map(trainable.map((k) => [k, tensors.get(k)!.shape]));
  const optimizer = new AdamW(shapes);

  // One example filling the sequence: BOS, a prompt, then answer tokens (labelled) to the end.
  const rng = new Rng(1);
  const prefixImage = [30723, 18823, 28559];
  const prefixText = [30723, 18823, 8031, 30812, 5154];
  const words = seqLen - 1 - (modality === 'image' ? prefixImage.length + nv : prefixText.length);
  const ids = [1, ...Array.from({ length: words - 1 }, () => 3 + Math.floor(rng.next() * (cfg.llama.vocab - 3)))];
  const promptLen = Math.floor(words / 3);
  const r = cfg.clip.resolution;
  const example: TokenizedExample = {
    modality,
    inputIds: ids,
    labels: ids.map((id, i) => (i < promptLen ? 0 : id)),
    pixels: modality === 'image' ? Float32Array.from({ length: 3 * r * r }, (_, i) => Math.sin(i * 0.01)) : undefined,
    source: 'bench',
  };
  const laidOut = layoutExample(example, { seqLen, prefixImage, prefixText, nVisual: nv });

  const dropout = opts.dropout ?? 0.1;
  const recompute = opts.recompute ?? 'whole';
  const stepperOptions = { trainable, seqLen, dropout: dropout > 0 ? { p: dropout } : undefined, session: opts.threads ? { threads: opts.threads } : undefined };
  const stepper = recompute === 'blockwise' ? new BlockwiseTrainingStepper(cfg, tensors, stepperOptions) : new TrainingStepper(cfg, tensors, stepperOptions);
  const step = async () => {
    const out = await stepper.run(laidOut, params, { random: () => rng.next() });
    optimizer.step(params, out.grads, 1e-4);
    return out.loss;
  };
  try {
    const f0 = performance.now();
    const loss = await step();
    if (!Number.isFinite(loss)) throw new Error(`training bench: loss is ${loss}`);
    const firstStepMs = performance.now() - f0;
    const times: number[] = [];
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    const stepMs = median(times);
    return {
      modality, recompute, dim, layers, seqLen, steps, stepMs, minStepMs: Math.min(...times), tokensPerSecond: (seqLen * 1000) / stepMs, firstStepMs,
      peakRssMB: peakRssMB(), trainableParameters, frozenParameters,
    };
  } finally {
    await stepper.dispose();
  }
}

export function formatTrainingRows(rows: TrainingBenchResult[]): string {
  const head = ['row', 'seq', 'step ms (median)', 'min ms', 'tokens/s', 'first step ms', 'peak RSS MB', 'trainable', 'frozen'];
  const body = rows.map((x) => [
    `train d${x.dim}x${x.layers} ${x.modality}${x.recompute === 'blockwise' ? ' blockwise' : ''}`, String(x.seqLen), x.stepMs.toFixed(0), x.minStepMs.toFixed(0), x.tokensPerSecond.toFixed(0),
    x.firstStepMs.toFixed(0), x.peakRssMB.toFixed(0), x.trainableParameters.toLocaleString('en-US'), x.frozenParameters.toLocaleString('en-US'),
  ]);
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`, ...body.map(line)].join('\n');
}

function parseArgs(argv: string[]): { opts: TrainingBenchOptions; modalities: Modality[]; json: boolean; worker: boolean } {
  const opts: TrainingBenchOptions = {};
  let modalities: Modality[] = ['text', 'image'];
  let json = false;
  let worker = false;
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--steps') opts.steps = num(a, argv[++i]);
    else if (a === '--seq') opts.seqLen = num(a, argv[++i]);
    else if (a === '--threads') opts.threads = num(a, argv[++i]);
    else if (a === '--dim') opts.dim = num(a, argv[++i]);
    else if (a === '--layers') opts.layers = num(a, argv[++i]);
    else if (a === '--recompute') {
      const r = argv[++i];
      if (r !== 'whole' && r !== 'blockwise') throw new Error('--recompute takes whole or blockwise');
      opts.recompute = r;
    }    else if (a === '--modality') {
      modalities = (argv[++i] ?? '').split(',') as Modality[];
      if (!modalities.every((m) => m === 'text' || m === 'image')) throw new Error('--modality takes text, image or text,image');
    } else if (a === '--json') json = true;
    else if (a === '--worker') worker = true;
    else throw new Error(`unknown argument ${a} (see the header of bench/trainingRow.ts)`);
  }
  return { opts, modalities, json, worker };
}

async function main(): Promise<void> {
  const { opts, modalities, json, worker } = parseArgs(process.argv.slice(2));
  if (worker) {
    process.stdout.write(JSON.stringify(await benchTrainingStep({ ...opts, modality: modalities[0] })) + '\n');
    return;
  }
  const rows: TrainingBenchResult[] = [];
  for (const m of modalities) {
    const args = [__filename, '--worker', '--modality', m];
    for (const [flag, v] of [['--steps', opts.steps], ['--seq', opts.seqLen], ['--threads', opts.threads], ['--dim', opts.dim], ['--layers', opts.layers], ['--recompute', opts.recompute]] as const) {
      if (v !== undefined) args.push(flag, String(v));
    }
    const child = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (child.status !== 0) throw new Error(`training bench (${m}) exited with ${child.status ?? child.signal}`);
    rows.push(JSON.parse(child.stdout.trim().split('\n').pop()!));
  }
  console.log(json ? JSON.stringify(rows, null, 2) : formatTrainingRows(rows));
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
