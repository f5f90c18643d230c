// Setting up a model folder from official LaVIN files: check them, write model.json (referencing
// the files in place, or copying them in), then prove the folder by loading it.

import * as fs from 'fs';
import * as path from 'path';
import { convertModelDir } from '../engine/convertedCopy';
import { LoadOptions } from '../engine/api';
import { bitsOf } from '../engine/quant';
import { LavinModel } from '../engine/lavinModel';
import { MANIFEST_FILE, ModelManifest } from '../engine/modelDir';
import { LavinErrorCodes, PrecisionName, SetupModelParams } from '../protocol';
import { cancelled, HostError } from './errors';

export type ConvertProgress = (message: string, percentage: number) => void;

const fail = (message: string) => new HostError(LavinErrorCodes.ModelLoadFailed, message);

const PRECISIONS: readonly PrecisionName[] = ['fp32', 'fp16', 'int8', 'int4'];

export function checkPrecision(precision: PrecisionName | undefined): void {
  if (precision !== undefined && !PRECISIONS.includes(precision)) {
    throw new HostError(-32602, `precision must be one of ${PRECISIONS.join(', ')}, got "${String(precision)}"`);
  }
}

function mustExist(p: string, what: string, kind: 'file' | 'dir'): string {
  const abs = path.resolve(p);
  if (!fs.existsSync(abs)) throw fail(`${what} ${abs} does not exist`);
  const isDir = fs.statSync(abs).isDirectory();
  if (kind === 'dir' && !isDir) throw fail(`${what} ${abs} must be a folder (with params.json and consolidated.NN.pth)`);
  if (kind === 'file' && isDir) throw fail(`${what} ${abs} must be a file, not a folder`);
  return abs;
}

function findTokenizer(llamaDir: string, given?: string): string {
  if (given) return mustExist(given, 'tokenizer', 'file');
  for (const candidate of [path.join(llamaDir, 'tokenizer.model'), path.join(path.dirname(llamaDir), 'tokenizer.model')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw fail(`no tokenizer.model in ${llamaDir} or its parent; pass the tokenizer file explicitly`);
}

/** ViT heads from a Hugging Face-style config.json beside the CLIP file, if there is one. */
function clipHeadsBeside(clipFile: string): number | undefined {
  const cfg = path.join(path.dirname(clipFile), 'config.json');
  if (!fs.existsSync(cfg)) return undefined;
  try {
    const j = JSON.parse(fs.readFileSync(cfg, 'utf8')) as { num_attention_heads?: unknown; vision_config?: { num_attention_heads?: unknown } };
    const heads = j.num_attention_heads ?? j.vision_config?.num_attention_heads;
    return typeof heads === 'number' ? heads : undefined;
  } catch {
    return undefined;
  }
}

async function copyWithProgress(src: string, dst: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<void> {
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  const tmp = `${dst}.partial`;
  await new Promise<void>((resolve, reject) => {
    const input = fs.createReadStream(src);
    const output = fs.createWriteStream(tmp);
    const abort = () => input.destroy(cancelled('model setup'));
    signal?.addEventListener('abort', abort, { once: true });
    input.on('data', (chunk) => onBytes(chunk.length));
    input.on('error', reject);
    output.on('error', reject);
    output.on('finish', resolve);
    input.pipe(output);
  });
  fs.renameSync(tmp, dst);
}

function filesUnder(p: string): string[] {
  if (!fs.statSync(p).isDirectory()) return [p];
  return fs.readdirSync(p).flatMap((f) => filesUnder(path.join(p, f)));
}

export interface ConvertOutcome {
  dir: string;
  manifestPath: string;
  model: LavinModel;
}

/** Write and validate a model folder. The caller owns the loaded model it returns. */
export async function setupModelFolder(params: SetupModelParams, progress: ConvertProgress = () => {}, signal?: AbortSignal, load: Pick<LoadOptions, 'packedWeights' | 'log'> = {}): Promise<ConvertOutcome> {
  checkPrecision(params.precision);
  progress('checking files', 0);
  const llama = mustExist(params.llama, 'LLaMA folder', 'dir');
  if (!fs.existsSync(path.join(llama, 'params.json'))) throw fail(`LLaMA folder ${llama} has no params.json`);
  if (!fs.readdirSync(llama).some((f) => /^consolidated\.\d+\.pth$/.test(f))) throw fail(`LLaMA folder ${llama} has no consolidated.NN.pth shard`);
  const clip = mustExist(params.clip, 'CLIP weights', 'file');
  const adapter = mustExist(params.adapter, 'adapter checkpoint', 'file');
  const tokenizer = findTokenizer(llama, params.tokenizer);
  const out = path.resolve(params.out);
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw fail(`output ${out} exists and is not a folder`);
  if (fs.existsSync(path.join(out, MANIFEST_FILE))) throw fail(`output ${out} already holds a ${MANIFEST_FILE}; choose an empty folder`);
  fs.mkdirSync(out, { recursive: true });

  let refs = { llama, clip, adapter, tokenizer };
  if (params.copy) {
    const plan: [string, string][] = [
      ...filesUnder(llama).map((f): [string, string] => [f, path.join(out, 'llama', path.relative(llama, f))]),
      [clip, path.join(out, 'clip', path.basename(clip))],
      [adapter, path.join(out, 'adapter', path.basename(adapter))],
      [tokenizer, path.join(out, 'tokenizer.model')],
    ];
    const total = plan.reduce((a, [src]) => a + fs.statSync(src).size, 0) || 1;
    let done = 0;
    for (const [src, dst] of plan) {
      if (signal?.aborted) throw cancelled('model setup');
      await copyWithProgress(src, dst, (n) => {
        done += n;
        progress(`copying ${path.basename(src)}`, 5 + Math.floor((75 * done) / total));
      }, signal);
    }
    refs = { llama: 'llama', clip: path.join('clip', path.basename(clip)), adapter: path.join('adapter', path.basename(adapter)), tokenizer: 'tokenizer.model' };
  }

  const manifest: ModelManifest = {
    format: 'lavin-code-model',
    version: 1,
    name: params.name ?? path.basename(out),
    llama: refs.llama,
    clip: refs.clip,
    adapter: refs.adapter,
    tokenizer: refs.tokenizer,
    positionMode: 'reference',
  };
  const heads = params.clipHeads ?? clipHeadsBeside(clip);
  if (heads !== undefined) manifest.clipHeads = heads;
  const manifestPath = path.join(out, MANIFEST_FILE);
  fs.writeFileSync(`${manifestPath}.tmp`, JSON.stringify(manifest, null, 2) + '\n');
  fs.renameSync(`${manifestPath}.tmp`, manifestPath);

  if (signal?.aborted) throw cancelled('model setup');
  const precision = params.precision ?? 'fp32';
  try {
    if (precision !== 'fp32') {
      // Quantise once into <out>/converted/ so start-up opens ONNX files instead of re-quantising.
      progress(`converting the LLaMA weights to ${precision}`, 80);
      await convertModelDir(out, precision, {
        kernels: 'fused',
        onProgress: (p) => progress(`converting (${p.part}${p.skipped ? ', already done' : ''})`, 80 + Math.floor((15 * p.done) / Math.max(1, p.total))),
      });
      manifest.precision = precision;
      fs.writeFileSync(`${manifestPath}.tmp`, JSON.stringify(manifest, null, 2) + '\n');
      fs.renameSync(`${manifestPath}.tmp`, manifestPath);
    }
    if (signal?.aborted) throw cancelled('model setup');
    // int8/int4: this first load also saves and checks onnxruntime's packed weights (7B: about 30 s).
    const packs = bitsOf(precision) !== undefined && load.packedWeights !== false;
    progress(packs ? "validating: loading the new model folder and saving onnxruntime's packed weights" : 'validating: loading the new model folder', 95);
    const model = await LavinModel.load(out, { precision, ...load });
    progress('done', 100);
    return { dir: out, manifestPath, model };
  } catch (err) {
    // Leave no manifest behind that cannot load.
    fs.rmSync(manifestPath, { force: true });
    if (signal?.aborted) throw err;
    throw fail(`the files do not make a working model: ${(err as Error).message}`);
  }
}
