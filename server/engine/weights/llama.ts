// Meta LLaMA-1 checkpoints: params.json + consolidated.NN.pth shards (fp16). Every expected tensor is
// checked against the shapes params.json implies before anything is read; shards are merged one tensor
// at a time (spec section 5): concat dim 1 for tok_embeddings/wo/w2, dim 0 for output/wq/wk/wv/w1/w3,
// norms replicated (taken from shard 0 and checked identical in the others).
import * as fs from 'fs/promises';
import * as path from 'path';
import type { DType, HostTensor } from '../tensor';
import { CheckpointError, formatShape } from './weightErrors';
import { ConcatBuilder, FLOAT_DTYPES, sameBytes } from './ops';
import { openTensorFile } from './tensorFile';
import type { TensorFile, TensorInfo } from './types';

export interface LlamaParams {
  dim: number;
  nLayers: number;
  nHeads: number;
  headDim: number;
  normEps: number;
  vocabSize: number;
  ffnHidden: number;
  multipleOf: number;
  nShards: number;
}

/** How one tensor is split across model-parallel shards. */
export type ShardRule = { kind: 'concat'; dim: 0 | 1 } | { kind: 'replicated' };

const SHARD_FILE = /^consolidated\.(\d+)\.pth$/;
/** RoPE inverse frequencies some converters store; LaVIN recomputes them. */
const IGNORED_KEY = /(^|\.)rope\.freqs$/;

export function llamaShardRule(name: string): ShardRule {
  if (name === 'tok_embeddings.weight') return { kind: 'concat', dim: 1 };
  if (name === 'output.weight') return { kind: 'concat', dim: 0 };
  if (/\.attention\.w[qkv]\.weight$/.test(name) || /\.feed_forward\.w[13]\.weight$/.test(name)) return { kind: 'concat', dim: 0 };
  if (/\.attention\.wo\.weight$/.test(name) || /\.feed_forward\.w2\.weight$/.test(name)) return { kind: 'concat', dim: 1 };
  return { kind: 'replicated' };
}

/** Every tensor LLaMA needs, with its full (merged) shape. */
export function expectedLlamaShapes(p: LlamaParams): Map<string, number[]> {
  const { dim: D, vocabSize: V, ffnHidden: F } = p;
  const m = new Map<string, number[]>([['tok_embeddings.weight', [V, D]]]);
  for (let l = 0; l < p.nLayers; l++) {
    for (const w of ['wq', 'wk', 'wv', 'wo']) m.set(`layers.${l}.attention.${w}.weight`, [D, D]);
    m.set(`layers.${l}.feed_forward.w1.weight`, [F, D]);
    m.set(`layers.${l}.feed_forward.w2.weight`, [D, F]);
    m.set(`layers.${l}.feed_forward.w3.weight`, [F, D]);
    m.set(`layers.${l}.attention_norm.weight`, [D]);
    m.set(`layers.${l}.ffn_norm.weight`, [D]);
  }
  m.set('norm.weight', [D]);
  m.set('output.weight', [V, D]);
  return m;
}

function shardShape(full: readonly number[], rule: ShardRule, nShards: number): number[] {
  const s = [...full];
  if (rule.kind === 'concat') s[rule.dim] /= nShards;
  return s;
}

export interface LlamaCheckpoint {
  params: LlamaParams;
  /** Shard paths in order. */
  shards: string[];
  /** Expected tensor names (merged), in a stable order. */
  names(): string[];
  info(name: string): TensorInfo;
  /** One merged tensor; only its shard pieces are in memory meanwhile. */
  read(name: string): Promise<HostTensor>;
  /** Keys present in the shards that LLaMA does not use (rope.freqs and strays). */
  ignored: string[];
  close(): Promise<void>;
}

interface RawParams { dim?: unknown; n_layers?: unknown; n_heads?: unknown; norm_eps?: unknown; vocab_size?: unknown; multiple_of?: unknown }

async function readParams(file: string): Promise<RawParams> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(file, code === 'ENOENT' ? 'file not found (Meta LLaMA folders have params.json)' : `cannot read (${code})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as RawParams;
  } catch (e) {
    throw new CheckpointError(file, `not valid JSON (${(e as Error).message})`);
  }
}

function positiveInt(file: string, raw: RawParams, key: keyof RawParams, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new CheckpointError(file, `"${key}" must be a positive integer, found ${JSON.stringify(raw[key])}`);
  return v;
}

async function listShards(dir: string): Promise<string[]> {
  let files: string[];
  try {
    files = await fs.readdir(dir);
  } catch (e) {
    throw new CheckpointError(dir, `cannot list the LLaMA folder (${(e as NodeJS.ErrnoException).code})`);
  }
  const shards = files
    .map((f) => ({ f, m: SHARD_FILE.exec(f) }))
    .filter((x) => x.m)
    .map((x) => ({ f: x.f, n: Number(x.m![1]) }))
    .sort((a, b) => a.n - b.n);
  if (shards.length === 0) throw new CheckpointError(path.join(dir, 'consolidated.00.pth'), 'file not found: the LLaMA folder has no consolidated.NN.pth shards');
  shards.forEach((s, i) => {
    if (s.n !== i) throw new CheckpointError(path.join(dir, s.f), `shard numbering has a gap: expected consolidated.${String(i).padStart(2, '0')}.pth`);
  });
  return shards.map((s) => path.join(dir, s.f));
}

/** Opens and validates a LLaMA folder without reading tensor data. */
export async function openLlama(dir: string): Promise<LlamaCheckpoint> {
  const paramsFile = path.join(dir, 'params.json');
  const raw = await readParams(paramsFile);
  const shardPaths = await listShards(dir);
  const files: TensorFile[] = [];
  try {
    for (const p of shardPaths) files.push(await openTensorFile(p));
    return buildCheckpoint(paramsFile, raw, files);
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
}

function buildCheckpoint(paramsFile: string, raw: RawParams, files: TensorFile[]): LlamaCheckpoint {
  const n = files.length;
  const dim = positiveInt(paramsFile, raw, 'dim');
  const nLayers = positiveInt(paramsFile, raw, 'n_layers');
  const nHeads = positiveInt(paramsFile, raw, 'n_heads');
  const multipleOf = positiveInt(paramsFile, raw, 'multiple_of', 256);
  const normEps = raw.norm_eps ?? 1e-6;
  if (typeof normEps !== 'number' || !(normEps > 0)) throw new CheckpointError(paramsFile, `"norm_eps" must be a positive number, found ${JSON.stringify(raw.norm_eps)}`);
  if (dim % nHeads !== 0) throw new CheckpointError(paramsFile, `n_heads ${nHeads} does not divide dim ${dim}`);
  if (dim % n !== 0) throw new CheckpointError(paramsFile, `dim ${dim} cannot be split over ${n} shards`);

  // Vocabulary and FFN width are not in params.json (vocab_size is -1 in Meta's files): take them from shard 0.
  const shape0 = (name: string, rank: number): number[] => {
    const { shape } = files[0].info(name);
    if (shape.length !== rank) throw new CheckpointError(files[0].path, `expected rank ${rank}, found shape ${formatShape(shape)}`, name);
    return shape;
  };
  const vocabSize = shape0('tok_embeddings.weight', 2)[0];
  const declaredVocab = raw.vocab_size;
  if (typeof declaredVocab === 'number' && declaredVocab > 0 && declaredVocab !== vocabSize) {
    throw new CheckpointError(paramsFile, `vocab_size ${declaredVocab} disagrees with tok_embeddings.weight (${vocabSize} rows)`);
  }
  const ffnHidden = shape0('layers.0.feed_forward.w1.weight', 2)[0] * n;
  const params: LlamaParams = { dim, nLayers, nHeads, headDim: dim / nHeads, normEps, vocabSize, ffnHidden, multipleOf, nShards: n };
  if (vocabSize % n !== 0) throw new CheckpointError(files[0].path, `vocabulary ${vocabSize} cannot be split over ${n} shards`, 'output.weight');

  const expected = expectedLlamaShapes(params);
  const dtypes = new Map<string, DType>();
  for (const [name, full] of expected) {
    const rule = llamaShardRule(name);
    const want = shardShape(full, rule, n);
    for (const f of files) {
      const { dtype, shape } = f.info(name);
      if (shape.join(',') !== want.join(',')) {
        throw new CheckpointError(f.path, `expected shape ${formatShape(want)}, found ${formatShape(shape)}`, name);
      }
      if (!FLOAT_DTYPES.has(dtype)) throw new CheckpointError(f.path, `unsupported dtype ${dtype} (LLaMA weights are floating point)`, name);
      const first = dtypes.get(name);
      if (first && first !== dtype) throw new CheckpointError(f.path, `dtype ${dtype} differs from shard 0 (${first})`, name);
      dtypes.set(name, dtype);
    }
  }
  const ignored = new Set<string>();
  for (const f of files) for (const name of f.names()) if (!expected.has(name)) ignored.add(name);

  const read = async (name: string): Promise<HostTensor> => {
    const full = expected.get(name);
    if (!full) throw new CheckpointError(files[0].path, IGNORED_KEY.test(name) ? 'not a LLaMA weight (ignored)' : 'not a LLaMA weight', name);
    const rule = llamaShardRule(name);
    if (rule.kind === 'replicated') {
      const t = await files[0].read(name);
      for (let i = 1; i < n; i++) {
        const other = await files[i].read(name);
        if (!sameBytes(t.data, other.data)) throw new CheckpointError(files[i].path, 'differs from shard 0 (replicated weights must be identical in every shard)', name);
      }
      return t;
    }
    if (n === 1) return files[0].read(name);
    const merged = new ConcatBuilder(dtypes.get(name)!, full, rule.dim);
    for (const f of files) merged.add(await f.read(name));
    return merged.finish();
  };

  return {
    params,
    shards: files.map((f) => f.path),
    names: () => [...expected.keys()],
    info: (name) => {
      const full = expected.get(name);
      if (!full) throw new CheckpointError(files[0].path, 'not a LLaMA weight', name);
      return { dtype: dtypes.get(name)!, shape: [...full] };
    },
    read,
    ignored: [...ignored],
    close: async () => {
      await Promise.all(files.map((f) => f.close()));
    },
  };
}

/** Loads and merges every LLaMA weight; fp16 stays fp16. */
export async function loadLlama(dir: string): Promise<{ params: LlamaParams; tensors: Map<string, HostTensor>; ignored: string[] }> {
  const ckpt = await openLlama(dir);
  try {
    const tensors = new Map<string, HostTensor>();
    for (const name of ckpt.names()) tensors.set(name, await ckpt.read(name));
    return { params: ckpt.params, tensors, ignored: ckpt.ignored };
  } finally {
    await ckpt.close();
  }
}
