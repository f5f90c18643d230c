// Reads a golden fixture set (official-format checkpoints + reference outputs) from
// LAVIN_FIXTURE_DIR. Every expectation and every shape comes from the fixture directory.

import * as fs from 'fs';
import * as path from 'path';
import { toFloat32 } from '../../server/engine/tensor';
import { openTensorFile } from '../../server/engine/weights';
import { tempDir } from '../helpers/tempDir';

export const FIXTURE_DIR = process.env.LAVIN_FIXTURE_DIR
  ? path.resolve(process.env.LAVIN_FIXTURE_DIR)
  : path.resolve(__dirname, '../../../test/fixtures/lavin-tiny-ref');

export interface GoldenCase {
  img_indicator: number;
  prompt_ids: number[];
  answer_ids: number[];
  train_input_ids: number[];
  train_labels: number[];
  train_labels_inserted: number[];
  train_seqlen: number;
  loss: number;
  n_label_tokens: number;
  grad_none_keys: string[];
  router_weights: number[][];
  gen_prompt_ids: number[];
  gen_tokens: number[];
  gen_prompt_len_S: number;
  decode_trace: { step: number; start_pos: number; n_inputs: number; rope_positions: number[] }[];
}

export interface GoldenJson {
  config: Record<string, unknown> & { max_words: number; max_gen_len: number; n_feats: number; temperature: number };
  tokens: Record<string, unknown> & { bos_id: number; eos_id: number };
  cases: Record<string, GoldenCase>;
  diagnostics: Record<string, any>;
  trainable_keys: string[];
  n_trainable_params: number;
}

export function readGoldenJson(dir = FIXTURE_DIR): GoldenJson {
  return JSON.parse(fs.readFileSync(path.join(dir, 'golden.json'), 'utf8'));
}

/** The prefix id list whose golden.json key starts with `name` (keys carry a description). */
export function prefixIds(g: GoldenJson, name: 'prefix_img_ids' | 'prefix_nonimg_ids'): number[] {
  const key = Object.keys(g.tokens).find((k) => k.startsWith(name));
  if (!key) throw new Error(`golden.json tokens has no ${name}`);
  return g.tokens[key] as number[];
}

export interface GoldenTensor { shape: number[]; data: Float32Array }

export async function readGoldenTensors(dir = FIXTURE_DIR): Promise<Map<string, GoldenTensor>> {
  const file = await openTensorFile(path.join(dir, 'golden.safetensors'));
  const out = new Map<string, GoldenTensor>();
  try {
    for (const name of file.names()) {
      const t = await file.read(name);
      if (t.dtype === 'int64') {
        const big = new BigInt64Array(t.data.slice().buffer);
        out.set(name, { shape: t.shape, data: Float32Array.from(big, (v) => Number(v)) });
      } else {
        out.set(name, { shape: t.shape, data: toFloat32(t) });
      }
    }
  } finally {
    await file.close();
  }
  return out;
}

/** A model folder (model.json) pointing at the fixture's official-format files. */
export function fixtureModelDir(clip: 'openai' | 'hf' = 'openai', dir = FIXTURE_DIR): string {
  const tmp = tempDir('lavin-fixture-model-');
  const shards = fs.readdirSync(path.join(dir, 'llama'));
  if (!shards.some((f) => f.endsWith('.pth'))) throw new Error(`${dir}/llama has no .pth shards`);
  const manifest = {
    format: 'lavin-code-model',
    version: 1,
    name: `fixture ${path.basename(dir)}`,
    llama: path.join(dir, 'llama'),
    clip: path.join(dir, clip === 'openai' ? 'clip/visual.pth' : 'clip/model.safetensors'),
    clipHeads: readClipHeads(dir),
    adapter: path.join(dir, 'adapter/checkpoint.pth'),
    positionMode: 'reference',
  };
  fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(manifest, null, 2));
  return tmp;
}

/** OpenAI CLIP files do not record the head count; the fixture's HF config.json does. */
function readClipHeads(dir: string): number | undefined {
  const cfg = path.join(dir, 'clip/config.json');
  if (!fs.existsSync(cfg)) return undefined;
  return JSON.parse(fs.readFileSync(cfg, 'utf8')).num_attention_heads;
}

export interface Closeness { maxAbsError: number; bound: number; ok: boolean; worstIndex: number }

/** The fixture README's tolerance: |d| <= rel * max|ref| + abs, elementwise. */
export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-5, abs = 1e-6): Closeness {
  if (actual.length !== expected.length) return { maxAbsError: Infinity, bound: 0, ok: false, worstIndex: -1 };
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]));
  const bound = rel * maxRef + abs;
  let maxErr = 0;
  let worst = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxErr)) { maxErr = d; worst = i; }
  }
  return { maxAbsError: maxErr, bound, ok: maxErr <= bound, worstIndex: worst };
}

export function assertClose(what: string, actual: ArrayLike<number>, expected: GoldenTensor | ArrayLike<number>, rel = 1e-5, abs = 1e-6): Closeness {
  const exp = 'data' in expected && 'shape' in expected ? (expected as GoldenTensor).data : (expected as ArrayLike<number>);
  const c = closeness(actual, exp, rel, abs);
  if (!c.ok) {
    throw new Error(`${what}: max |error| ${c.maxAbsError} at index ${c.worstIndex} exceeds ${c.bound} (${actual.length} vs ${exp.length} values)`);
  }
  return c;
}
