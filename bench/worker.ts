// One measurement in its own process (so peak RSS belongs to one engine and one model):
//   node out/bench/worker.js '<json WorkerArgs>'   -> prints one line `RESULT {json WorkerResult}`
// Both engines are timed the same way: warm-up, then a `prefill`-token prompt as each engine
// processes prompts (ours: chunks of PREFILL_CHUNK; llama.cpp: batches of 512) (the fastest of
// `prefillRepeats`), then from a 1-token prompt, `decode` greedy steps of one token each
// (rate = 1 / median step: the 2 cores are shared, and stalls of other processes would dominate a mean),
// then `decodeAfterPrompt` steps after BOS + the same prompt (decode with a long context: what a
// chat about a file does, and where a KV cache that is copied each step would show).

import { loadNodeLlamaCpp } from './llamaCpp';
import * as fs from 'fs';
import { KvCache, LavinRuntime } from '../server/engine/runtime';
import { argmax } from '../server/engine/sampling';
import { visionOf } from '../server/engine/lavin';
import { backboneRuntime } from '../server/engine/backboneModel';
import { openBackbone } from '../server/engine/weights/backbone';

export interface WorkerArgs {
  /** 'paired': both engines in one process, alternating every prefill and every decode step. */
  engine: 'ours' | 'llamacpp' | 'paired';
  /** Converted folder (ours, paired) or .gguf file (llama.cpp; ours too: the "same file" section opens it as the product does). */
  model: string;
  /** The .gguf file (paired). */
  gguf?: string;
  threads: number;
  prefill: number;
  decode: number;
  /** Decode steps timed after BOS + the prefill prompt (0: skip). */
  decodeAfterPrompt?: number;
  /** Prefill is timed this many times; the fastest counts. */
  prefillRepeats: number;
  vocab: number;
  /** Also time the first token of a 64-token prompt with an image (ours only). */
  image: boolean;
}

export interface WorkerResult {
  loadMs: number;
  /** From the fastest prefill. */
  prefillTokS: number;
  /** 1000 / median step time: robust to other processes stealing one of the two cores. */
  decodeTokS: number;
  /** Decoded tokens / total decode time (includes any stalls). */
  decodeMeanTokS: number;
  /** 1000 / median step time of the steps after BOS + the prompt. */
  decodeAfterPromptTokS?: number;
  ttftImageMs?: number;
  /** Peak RSS of the text path (for ours: before the ViT is loaded). */
  peakRssMb: number;
  /** Peak RSS including the ViT (ours, when the image path ran). */
  peakRssImageMb?: number;
  /** The greedy decode tokens (to check both engines compute the same model). */
  tokens: number[];
  /** What the engine reports of itself (llama.cpp: its CPU features, e.g. AMX_INT8, REPACK). */
  engineInfo?: string;
}

function randomIds(n: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 3 + (s % (vocab - 3));
  });
}

/** What the timing loops need from an engine. */
interface Engine {
  /** Run a prompt from an empty cache; returns milliseconds. */
  prefill(ids: number[]): Promise<number>;
  /** Evaluate BOS (+ the prompt, if given) from an empty cache (untimed), ready to decode. */
  startDecode(prompt?: number[]): Promise<void>;
  /** Feed the current greedy token; returns it and the step's milliseconds. */
  decodeStep(): Promise<{ token: number; ms: number }>;
  dispose(): Promise<void>;
}

async function openOurs(dir: string, a: WorkerArgs): Promise<{ engine: Engine; rt: LavinRuntime }> {
  const rt = dir.endsWith('.gguf') ? await backboneRuntime(await openBackbone(dir), { threads: a.threads }, 'fused') : await LavinRuntime.open(dir, { threads: a.threads });
  const router = await rt.routerTable('text');
  const run = (ids: number[], from: number, cache: KvCache) =>
    rt.step({ embeds: rt.embed(ids), positions: ids.map((_, i) => from + i), routerWeights: router, cache });
  // Prompts go through the product's path: rt.prefill, in chunks of PREFILL_CHUNK tokens.
  const prompt = async (ids: number[], from: number) =>
    (await rt.prefill({ embeds: rt.embed(ids), positions: ids.map((_, i) => from + i), routerWeights: router, cache: KvCache.empty(rt.cfg) }))!;
  await run(randomIds(8, a.vocab, 1), 1, KvCache.empty(rt.cfg)); // warm-up
  let out: Awaited<ReturnType<typeof run>> | undefined;
  const engine: Engine = {
    async prefill(ids) {
      const t0 = performance.now();
      await prompt(ids, 1);
      return performance.now() - t0;
    },
    async startDecode(ids = []) {
      out = await prompt([1, ...ids], 0); // BOS at position 0, as llama.cpp
    },
    async decodeStep() {
      const token = argmax(out!.logits);
      const t0 = performance.now();
      out = await run([token], out!.cache.length, out!.cache);
      return { token, ms: performance.now() - t0 };
    },
    dispose: () => rt.dispose(),
  };
  return { engine, rt };
}

async function openLlamaCpp(file: string, a: WorkerArgs): Promise<Engine & { info: string }> {
  const { getLlama, LlamaLogLevel } = await loadNodeLlamaCpp();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const info = String(llama.systemInfo ?? '').trim();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 1024, batchSize: 512, threads: a.threads, sequences: 1 });
  const seq = context.getSequence();
  await seq.evaluateWithoutGeneratingNewTokens(randomIds(8, a.vocab, 1) as never); // warm-up
  await seq.clearHistory();
  let it: AsyncIterator<unknown> | undefined;
  let pending = -1;
  return {
    info,
    async prefill(ids) {
      const t0 = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(ids as never);
      const ms = performance.now() - t0;
      await seq.clearHistory();
      return ms;
    },
    async startDecode(prompt = []) {
      if (it) {
        await it.return?.();
        await seq.clearHistory();
      }
      // Each next() is one step: it feeds the previous greedy token (sampled inside llama.cpp).
      const iterator: AsyncIterator<unknown> = seq.evaluate([1, ...prompt] as never, { temperature: 0 })[Symbol.asyncIterator]();
      it = iterator;
      pending = (await iterator.next()).value as number;
    },
    async decodeStep() {
      const token = pending;
      const t0 = performance.now();
      pending = (await it!.next()).value as number;
      return { token, ms: performance.now() - t0 };
    },
    async dispose() {
      await it?.return?.();
      await context.dispose();
      await model.dispose();
    },
  };
}

/** Prefill (fastest of the repeats) and decode rates; engines in `group` alternate call by call. */
async function timeEngines(group: Engine[], a: WorkerArgs): Promise<Pick<WorkerResult, 'prefillTokS' | 'decodeTokS' | 'decodeMeanTokS' | 'decodeAfterPromptTokS' | 'tokens'>[]> {
  const prompt = randomIds(a.prefill, a.vocab, 2);
  const prefillMs = group.map(() => Infinity);
  for (let r = 0; r < a.prefillRepeats; r++) {
    for (const [i, e] of group.entries()) prefillMs[i] = Math.min(prefillMs[i], await e.prefill(prompt));
  }
  for (const e of group) await e.startDecode();
  const steps: number[][] = group.map(() => []);
  const tokens: number[][] = group.map(() => []);
  for (let k = 0; k < a.decode; k++) {
    for (const [i, e] of group.entries()) {
      const s = await e.decodeStep();
      steps[i].push(s.ms);
      tokens[i].push(s.token);
    }
  }
  const afterPrompt: number[][] = group.map(() => []);
  if (a.decodeAfterPrompt) {
    for (const e of group) await e.startDecode(prompt);
    for (let k = 0; k < a.decodeAfterPrompt; k++) {
      for (const [i, e] of group.entries()) afterPrompt[i].push((await e.decodeStep()).ms);
    }
  }
  return group.map((_, i) => ({
    prefillTokS: (a.prefill * 1000) / prefillMs[i],
    ...decodeRates(steps[i]),
    decodeAfterPromptTokS: a.decodeAfterPrompt ? decodeRates(afterPrompt[i]).decodeTokS : undefined,
    tokens: tokens[i],
  }));
}

async function ours(a: WorkerArgs): Promise<WorkerResult> {
  const t0 = performance.now();
  const { engine, rt } = await openOurs(a.model, a);
  const loadMs = performance.now() - t0;
  const [timed] = await timeEngines([engine], a);
  const peakRssMb = readPeakRssMb();
  let ttftImageMs: number | undefined;
  if (a.image) {
    const dim = rt.cfg.llama.dim;
    const imageRouter = await rt.routerTable('image'); // per checkpoint, computed once: not per request
    const r = visionOf(rt.cfg).resolution;
    const pixels = Float32Array.from({ length: 3 * r * r }, (_, i) => Math.sin(i) * 0.5);
    await rt.encodeImage(pixels); // loads the ViT session and warms it up
    const i0 = performance.now();
    const visual = (await rt.encodeImage(pixels)).visualTokens;
    const n = rt.cfg.adapter.nVisualTokens;
    const ids = [1, ...randomIds(3, a.vocab, 3), ...new Array<number>(n).fill(0), ...randomIds(64 - 4 - n, a.vocab, 4)];
    const embeds = rt.embed(ids);
    embeds.set(visual, 4 * dim);
    const first = await rt.prefill({ embeds, positions: ids.map((_, i) => i + 1), routerWeights: imageRouter, cache: KvCache.empty(rt.cfg) });
    argmax(first!.logits);
    ttftImageMs = performance.now() - i0;
  }
  await engine.dispose();
  return { loadMs, ...timed, ttftImageMs, peakRssMb, peakRssImageMb: a.image ? readPeakRssMb() : undefined };
}

async function llamacpp(a: WorkerArgs): Promise<WorkerResult> {
  const t0 = performance.now();
  const engine = await openLlamaCpp(a.model, a);
  const loadMs = performance.now() - t0;
  const [timed] = await timeEngines([engine], a);
  await engine.dispose();
  return { loadMs, ...timed, peakRssMb: readPeakRssMb(), engineInfo: engine.info };
}

/** Both engines in one process, alternating call by call: both meet the same machine load. */
async function paired(a: WorkerArgs): Promise<{ ours: WorkerResult; llamacpp: WorkerResult }> {
  if (!a.gguf) throw new Error('paired worker: no "gguf" file given');
  const { engine: o } = await openOurs(a.model, a);
  const l = await openLlamaCpp(a.gguf, a);
  const [to, tl] = await timeEngines([o, l], a);
  await o.dispose();
  await l.dispose();
  const rss = readPeakRssMb();
  return { ours: { loadMs: NaN, ...to, peakRssMb: rss }, llamacpp: { loadMs: NaN, ...tl, peakRssMb: rss } };
}

/**
 * This process's peak resident set (MiB): VmHWM, which starts afresh at exec. (getrusage's
 * maxrss does not: Linux carries the parent's peak across fork + exec.)
 */
function readPeakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

function decodeRates(steps: number[]): { decodeTokS: number; decodeMeanTokS: number } {
  const sorted = steps.slice().sort((x, y) => x - y);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  return { decodeTokS: 1000 / median, decodeMeanTokS: (1000 * steps.length) / steps.reduce((x, y) => x + y, 0) };
}

async function main() {
  const a = JSON.parse(process.argv[2] ?? 'null') as WorkerArgs | null;
  if (!a || !['ours', 'llamacpp', 'paired'].includes(a.engine)) throw new Error('usage: worker.js \'{"engine":"ours"|"llamacpp"|"paired","model":...}\'');
  const r = a.engine === 'ours' ? await ours(a) : a.engine === 'llamacpp' ? await llamacpp(a) : await paired(a);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
