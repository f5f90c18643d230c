// The `lavin` subcommands over the model host, in-process.

import * as fs from 'fs';
import * as path from 'path';
import { AnswerResult, DevicePreference, ImageTextLine, LavinErrorCodes, PrecisionName } from '../../protocol';
import { LavinModel } from '../../engine/lavinModel';
import { isBackbonePath } from '../../engine/backboneModel';
import { evaluateScienceQa, formatTable1 } from '../../train';
import { defaultModelDir } from '../defaults';
import { HostError } from '../errors';
import { GenerateControl, ModelHost } from '../modelHost';
import { TrainingPort } from '../training';
import { nodeTrainingPort } from '../trainingPort';
import { chooseAdapterSet } from './adapterSets';
import { describeNonText } from './textInput';
import { imageTextProgress, preparingProgress } from './beforeFirstStep';
import { Workspace } from '../workspace';
import { CliOutput } from './output';
import { UsageError } from './usage';

export interface CommonFlags {
  model?: string;
  /** A GGUF / Hugging Face backbone's CLIP (ask and train --clip). */
  clip?: string;
  device?: DevicePreference;
  json: boolean;
  verbose: boolean;
}

export interface SamplingFlags {
  maxNewTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
}

/** ask / explain: which adapter set, and the logits diagnostics. */
export interface AnswerFlags extends CommonFlags, SamplingFlags {
  /** NAME in the store, a set's folder, or "none"; absent: the active set (lavin adapters --activate), if any. */
  adapters?: string;
  /** Print the N highest logits of the first answer token. */
  topLogits?: number;
}

export interface CliContext {
  out: CliOutput;
  signal: AbortSignal;
  training?: TrainingPort;
}

/** The CLI acts for the user on files they name: the whole file system is its workspace. */
function makeHost(flags: CommonFlags, ctx: CliContext, training = ctx.training): ModelHost {
  if (flags.model !== undefined) {
    const dir = path.resolve(flags.model);
    if (!fs.existsSync(dir)) throw new Error(`${/\.gguf$/i.test(dir) ? 'GGUF file' : 'model folder'} ${dir} does not exist`);
    if (!isBackbonePath(dir) && !fs.existsSync(path.join(dir, 'model.json'))) {
      throw new Error(fs.statSync(dir).isDirectory() ? `model folder ${dir} has no model.json or config.json (create one with "lavin convert")` : `${dir} is not a GGUF file`);
    }
  }
  if (flags.clip !== undefined) {
    const clip = path.resolve(flags.clip);
    if (!fs.existsSync(clip)) throw new Error(`CLIP ${flags.clip} does not exist`);
    if (flags.model === undefined || !isBackbonePath(path.resolve(flags.model))) {
      throw new UsageError('--clip gives a GGUF or Hugging Face backbone (--model FILE.gguf|DIR) its CLIP; a LaVIN model folder names its own in model.json');
    }
  }
  return new ModelHost({
    modelDir: flags.model && path.resolve(flags.model),
    clip: flags.clip && path.resolve(flags.clip),
    device: flags.device,
    workspace: new Workspace([path.parse(process.cwd()).root]),
    training,
    log: flags.verbose ? (m) => ctx.out.info(m) : undefined,
  });
}

function readInput(file: string, what: string): Buffer {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new Error(`${what} ${file} does not exist`);
  if (fs.statSync(abs).isDirectory()) throw new Error(`${what} ${file} is a folder, not a file`);
  return fs.readFileSync(abs);
}

function streamAnswer(ctx: CliContext, topLogits?: number): GenerateControl {
  return {
    signal: ctx.signal,
    onToken: (e: { text: string }) => {
      if (e.text === '') return;
      ctx.out.event({ event: 'token', text: e.text });
      ctx.out.text(e.text);
    },
    onLogits: topLogits === undefined ? undefined : (logits, index) => {
      if (index !== 0) return;
      const top = highest(logits, topLogits);
      ctx.out.event({ event: 'logits', index, top });
      ctx.out.info(`first answer token, ${top.length} highest logits (token id = logit): ${top.map((t) => `${t.id} = ${t.logit}`).join(', ')}`);
    },
  };
}

function highest(logits: Float32Array, n: number): { id: number; logit: number }[] {
  return Array.from(logits, (logit, id) => ({ id, logit })).sort((a, b) => b.logit - a.logit || a.id - b.id).slice(0, n);
}

/** A host for one answer, with the run's adapter set swapped in (never marked active). */
async function answerWith(flags: AnswerFlags, ctx: CliContext, run: (host: ModelHost) => Promise<AnswerResult>): Promise<void> {
  // The active set belongs to a LaVIN model folder: a GGUF / Hugging Face backbone runs with its fresh adapters unless --adapters says otherwise.
  const chosen = chooseAdapterSet(flags.adapters);
  const set = chosen?.via === 'active' && flags.model !== undefined && isBackbonePath(path.resolve(flags.model)) ? null : chosen;
  // The set's own folder as the store, so a set outside ~/.lavin/adapter-sets works the same way.
  const host = makeHost(flags, ctx, set ? nodeTrainingPort(path.dirname(set.dir)) : ctx.training);
  try {
    if (set) {
      try {
        await host.activateAdapterSet(set.name);
      } catch (err) {
        const hint = set.via === 'active' ? ` (it is the active set: "lavin adapters --activate none" clears that, --adapters none skips it once)` : '';
        throw new Error(`${(err as Error).message}${hint}`);
      }
      if (flags.verbose) ctx.out.info(`using adapter set ${set.name} (${set.dir})`);
    }
    finishAnswer(ctx, await run(host));
  } finally {
    await host.dispose();
  }
}

function finishAnswer(ctx: CliContext, r: AnswerResult): void {
  // End the answer's line first: notes go to stderr, which a terminal shows on the same screen.
  ctx.out.text('\n');
  for (const n of r.notices) {
    ctx.out.event({ event: 'notice', message: n });
    ctx.out.info(`note: ${n}`);
  }
  ctx.out.event({
    event: 'done', text: r.text, tokens: r.tokens, stopReason: r.stopReason, route: r.route, routerWeights: r.routerWeights,
    promptTokens: r.promptTokens, timings: r.timings, adapterSet: r.adapterSet, device: r.device, deviceNote: r.deviceNote, ...(r.visionNote ? { visionNote: r.visionNote } : {}),
    ...(r.imageText === undefined ? {} : { imageText: r.imageText }),
  });
  const weights = r.routerWeights.map((w) => w.map((x) => x.toFixed(2)).join('/')).join(' ');
  ctx.out.info(`[${r.adapterSet ? `adapter set ${r.adapterSet}; ` : ''}${r.route} route; router weights per layer ${weights}; ${r.tokens.length} tokens, ${r.timings.decodeTokensPerSecond.toFixed(0)} tokens/s on ${r.device ?? 'cpu'}; ${r.stopReason}]`);
}

export async function ask(question: string, image: string | undefined, flags: AnswerFlags & { raw?: boolean }, ctx: CliContext): Promise<void> {
  if (!question.trim() && !flags.raw) throw new UsageError('ask needs a question, e.g. lavin ask "what is in this picture?"');
  const images = image === undefined ? undefined : [readImage(image)];
  await answerWith(flags, ctx, (host) =>
    host.chat({ messages: [{ role: 'user', content: question, images }], ...sampling(flags), ...(flags.raw ? { raw: true } : {}) }, { ...streamAnswer(ctx, flags.topLogits), onImageText: (lines) => printImageText(lines, ctx) }).catch((err) => {
      throw image !== undefined ? namingImage(err, image) : err;
    }));
}

/** Human mode: what the model is given from the image, before its answer, on stderr: stdout is the answer alone (scripts take its first word). */
function printImageText(lines: ImageTextLine[], ctx: CliContext): void {
  if (lines.length === 0) return ctx.out.info('read from the image: no text');
  ctx.out.info(`read from the image (${lines.length} line${lines.length === 1 ? '' : 's'}):\n${lines.map((l) => `  ${l.text}\n`).join('')}`);
}

/** The image's bytes: the host is in this process, so nothing is encoded. */
function readImage(file: string): Uint8Array {
  const bytes = readInput(file, 'image');
  if (bytes.length === 0) throw new Error(`image ${file} is empty (0 bytes)`);
  return bytes;
}

/** The host speaks of "messages[0].images[0]"; on the command line the image is a file. */
function namingImage(err: unknown, file: string): unknown {
  if (!(err instanceof HostError) || err.code !== LavinErrorCodes.BadImage) return err;
  const reason = err.message.replace(/^messages\[\d+\]\.images\[\d+\] /, '').replace(/^image /, '');
  return new Error(`image ${file} ${/^(is|has) /.test(reason) ? reason : `is ${reason}`}`);
}

/** FILE, FILE:N or FILE:START-END (1-based, inclusive). */
export function parseFileRange(spec: string): { file: string; startLine?: number; endLine?: number } {
  const m = /^(.+?):(\d+)(?:-(\d+))?$/.exec(spec);
  if (!m || fs.existsSync(spec)) return { file: spec };
  const start = Number(m[2]);
  const end = m[3] === undefined ? start : Number(m[3]);
  if (start < 1 || end < start) throw new UsageError(`bad line range in ${spec}: use FILE:START-END with 1 <= START <= END`);
  return { file: m[1], startLine: start, endLine: end };
}

export async function explain(spec: string, flags: AnswerFlags, ctx: CliContext): Promise<void> {
  const { file, startLine, endLine } = parseFileRange(spec);
  const bytes = readInput(file, 'file');
  const notText = describeNonText(bytes);
  if (notText) throw new Error(`file ${file} ${notText}`);
  const text = bytes.toString('utf8');
  const lines = text.split(/\r?\n/).length;
  if (startLine !== undefined && startLine > lines) throw new Error(`${file} has ${lines} line(s); the range starts at line ${startLine}`);
  await answerWith(flags, ctx, (host) => host.explain({
    path: path.basename(file), text, ...sampling(flags),
    selection: startLine === undefined ? undefined : { startLine: startLine - 1, endLine: Math.min(endLine!, lines) - 1 },
  }, streamAnswer(ctx, flags.topLogits)));
}

export async function train(opts: { docs?: string; data?: string; steps?: number; out?: string; resume: boolean; overwrite: boolean; name?: string; include?: string[]; dryRun: boolean; readImageText: boolean }, flags: CommonFlags, ctx: CliContext): Promise<void> {
  const given = (opts.docs ?? opts.data)!;
  const folder = path.resolve(given);
  const what = opts.docs !== undefined ? 'docs folder' : 'data folder';
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new Error(`${what} ${given} does not exist or is not a folder`);
  if (opts.dryRun && opts.docs !== undefined) return previewTraining(folder, opts.include, ctx);
  const host = makeHost(flags, ctx);
  try {
    const source = opts.docs !== undefined ? { docs: folder } : { data: folder };
    const r = await host.train({ ...source, steps: opts.steps, out: opts.out && path.resolve(opts.out), resume: opts.resume, overwrite: opts.overwrite, name: opts.name, include: opts.include, readImageText: opts.readImageText }, {
      signal: ctx.signal,
      onImageText: imageTextProgress(ctx.out),
      onPreparing: preparingProgress(ctx.out),
      onData: (d) => {
        ctx.out.event({ event: 'data', samples: d.samples, skipped: d.skipped });
        ctx.out.info(`${d.samples} samples to train on${d.skipped.length ? `; skipped ${d.skipped.length}: ${d.skipped.slice(0, 10).map((x) => `${x.where} (${x.reason})`).join('; ')}${d.skipped.length > 10 ? '; ...' : ''}` : ''}`);
      },
      onProgress: (s) => {
        ctx.out.event({ event: 'step', step: s.step, loss: s.loss, totalSteps: s.totalSteps, tokensPerSecond: s.tokensPerSecond, etaSeconds: s.etaSeconds });
        const eta = s.etaSeconds === null ? '' : ` ETA ${Math.round(s.etaSeconds)}s`;
        ctx.out.progress('training', s.step / s.totalSteps, `step ${s.step}/${s.totalSteps} loss ${s.loss.toFixed(4)} ${Math.round(s.tokensPerSecond)} tok/s${eta}`);
      },
    });
    ctx.out.endProgress();
    ctx.out.event({ event: 'saved', path: r.path, adapterSet: r.adapterSet, steps: r.steps, finalLoss: r.finalLoss, cancelled: r.cancelled, samples: r.samples, skipped: r.skipped?.length });
    if (r.cancelled && r.steps === 0) ctx.out.info(`stopped before the first step; the set is saved in ${r.path} (run again with --resume to start it)`);
    else if (r.cancelled) ctx.out.info(`stopped at step ${r.steps}; checkpoint saved in ${r.path} (run again with --resume to continue)`);
    else ctx.out.info(`adapter set ${r.adapterSet} saved in ${r.path} after ${r.steps} steps (final loss ${r.finalLoss?.toFixed(4) ?? 'n/a'})`);
  } finally {
    await host.dispose();
  }
}

/** `lavin train --dry-run`: the samples training would build, without a model. */
function previewTraining(docs: string, include: string[] | undefined, ctx: CliContext): void {
  if (!ctx.training) throw new Error('training is not available in this build');
  const p = ctx.training.previewDocs(docs, include);
  ctx.out.event({ event: 'preview', ...p });
  ctx.out.text(`${p.samples} samples (${p.textSamples} text, ${p.imageSamples} image) from ${p.documentsUsed} of ${p.documents} documents\n`);
  for (const e of p.examples) ctx.out.text(`\n--- ${e.image ? `image ${e.image}\n` : ''}${e.prompt}\n${e.answer}\n`);
  if (p.skippedTotal) ctx.out.text(`\nskipped ${p.skippedTotal}: ${p.skipped.slice(0, 10).map((x) => `${x.path} (${x.reason})`).join('; ')}\n`);
}

export async function convert(
  opts: { llama: string; clip: string; adapter: string; tokenizer?: string; precision?: PrecisionName; out: string; name?: string; copy: boolean; clipHeads?: number },
  flags: CommonFlags,
  ctx: CliContext,
): Promise<void> {
  const host = makeHost({ ...flags, model: undefined }, ctx);
  try {
    const r = await host.setupModel({ ...opts, activate: true }, {
      signal: ctx.signal,
      onProgress: (message, pct) => {
        ctx.out.event({ event: 'progress', message, percentage: pct });
        ctx.out.progress('convert', pct / 100, message);
      },
    });
    ctx.out.endProgress();
    ctx.out.event({ event: 'saved', path: r.dir, manifest: r.manifestPath, model: r.model });
    ctx.out.info(`model folder ${r.dir} is ready (${r.model.name}: LLaMA ${r.model.llama.dim}x${r.model.llama.layers}, CLIP ${r.model.clip ? `${r.model.clip.width}x${r.model.clip.layers}` : 'none'}); use it with --model ${r.dir}`);
  } finally {
    await host.dispose();
  }
}

function sampling(f: SamplingFlags) {
  return { maxNewTokens: f.maxNewTokens, temperature: f.temperature, topP: f.topP, seed: f.seed };
}

/** `lavin eval --scienceqa DIR`: the paper's Table 1 columns for one split. */
export async function evalScienceQa(
  opts: { dir: string; split: string; limit?: number; greedy: boolean; unparsed: 'wrong' | 'random'; imageText?: boolean } & SamplingFlags,
  flags: CommonFlags,
  ctx: CliContext,
): Promise<void> {
  const dir = path.resolve(opts.dir);
  if (!fs.existsSync(path.join(dir, 'problems.json'))) throw new Error(`${opts.dir} is not a ScienceQA folder (no problems.json)`);
  const model = await LavinModel.load(flags.model ? path.resolve(flags.model) : defaultModelDir(), { device: flags.device, log: flags.verbose ? (m) => ctx.out.info(m) : undefined });
  try {
    const r = await evaluateScienceQa(model, dir, {
      split: opts.split, limit: opts.limit, greedy: opts.greedy, unparsed: opts.unparsed, seed: opts.seed,
      temperature: opts.temperature, topP: opts.topP, maxNewTokens: opts.maxNewTokens, signal: ctx.signal,
      ...(opts.imageText ? { imageText: { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen } } : {}),
      onProblem: (row, done, total) => ctx.out.progress('evaluating', done / total, `${done}/${total}`),
    });
    ctx.out.endProgress();
    ctx.out.event({ event: 'done', text: formatTable1(r.table, r.counts), tokens: [], table: r.table, counts: r.counts, unparsed: r.unparsed, settings: r.settings, split: r.split, aborted: r.aborted });
    ctx.out.text(formatTable1(r.table, r.counts) + '\n');
    ctx.out.info(`${r.rows.length} problems of split "${r.split}" in ${r.seconds.toFixed(1)} s; ${r.unparsed} answers without "The answer is X."`);
  } finally {
    await model.dispose();
  }
}
