// Where the golden fixture lives, and scratch folders for tests that write files.
import * as fs from 'fs';
import * as path from 'path';

import { FIXTURE_DIR } from '../../../golden/fixture';
import { tempDir } from '../../../helpers/tempDir';

export { FIXTURE_DIR };

export interface Golden {
  config: {
    'params.json': { dim: number; n_heads: number; n_layers: number; multiple_of: number; norm_eps: number; vocab_size: number };
    'vocab_size (tokenizer n_words)': number;
    ffn_hidden: number;
    n_shards: number;
    vit: { width: number; layers: number; heads: number; patch: number; resolution: number; embed_dim: number };
    hidden_proj: number;
    adapter_dim: number;
    adapter_scale: number;
    temperature: number;
    max_seq_len: number;
    n_feats: number;
    clip_layernorm_eps: number;
  };
  trainable_keys: string[];
  n_trainable_params: number;
  tensors: Record<string, { shape: number[]; dtype: string }>;
}

let golden: Golden | undefined;
export function readGolden(): Golden {
  golden ??= JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'golden.json'), 'utf8')) as Golden;
  return golden;
}

export function fixture(...parts: string[]): string {
  return path.join(FIXTURE_DIR, ...parts);
}

/** A fresh temp folder; removed by the returned cleanup. */
export function scratchDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = tempDir(`lavin-weights-${tag}-`);
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function writeFile(dir: string, rel: string, data: Uint8Array | string): string {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  return p;
}
