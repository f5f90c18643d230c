// A tokenizer from a GGUF file's metadata (tokenizer.ggml.*), read by weights/gguf.ts.

import { GgufFile } from '../weights/gguf';
import type { VocabSpec } from './vocab';
import { VocabTokenizer } from './vocabTokenizer';

/** GGUF metadata by key; values as the GGUF reader gives them (numbers or bigints, strings, booleans, arrays). */
export type GgufMetadata = ReadonlyMap<string, unknown>;

const UNSUPPORTED: Record<string, string> = {
  bert: 'WPM (BERT)', t5: 'UGM (T5)', rwkv: 'RWKV', plamo2: 'PLaMo-2', hybriddna: 'hybrid DNA', whitespace: 'whitespace', none: 'none', no_vocab: 'none',
};

/** The tokenizer of a GGUF file (only its metadata is read: a vocab-only file is enough). */
export function tokenizerFromGgufFile(path: string): VocabTokenizer {
  const file = GgufFile.open(path);
  try {
    return tokenizerFromGguf(file.metadata, path);
  } finally {
    file.close();
  }
}

export function tokenizerFromGguf(metadata: GgufMetadata, source = '<gguf>'): VocabTokenizer {
  return new VocabTokenizer(vocabSpecFromGguf(metadata, source));
}

export function vocabSpecFromGguf(metadata: GgufMetadata, source: string): VocabSpec {
  const get = (key: string) => metadata.get(key);
  const str = (key: string): string | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new Error(`${source}: ${key} is not a string`);
    return v;
  };
  const num = (key: string): number | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'bigint') return Number(v);
    if (typeof v !== 'number') throw new Error(`${source}: ${key} is not a number`);
    return v;
  };
  const bool = (key: string): boolean | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new Error(`${source}: ${key} is not a boolean`);
    return v;
  };
  const array = <T>(key: string, check: (x: unknown) => boolean, what: string): T[] | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    const arr = Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>) : undefined;
    if (!arr || (arr.length > 0 && !check(arr[0]))) throw new Error(`${source}: ${key} is not an array of ${what}`);
    return arr as T[];
  };
  const model = str('tokenizer.ggml.model');
  if (model === undefined) throw new Error(`${source}: no tokenizer in the file (tokenizer.ggml.model is missing)`);
  if (model in UNSUPPORTED) throw new Error(`${source}: unsupported tokenizer type ${UNSUPPORTED[model]} (tokenizer.ggml.model = '${model}'; supported: llama, gpt2, gemma4)`);
  const tokens = array<string>('tokenizer.ggml.tokens', (x) => typeof x === 'string', 'strings');
  if (!tokens) throw new Error(`${source}: no vocabulary (tokenizer.ggml.tokens is missing)`);
  const isNum = (x: unknown) => typeof x === 'number' || typeof x === 'bigint';
  const ids: VocabSpec['special'] = {};
  const idKeys: Array<[keyof VocabSpec['special'], string]> = [
    ['bos', 'bos_token_id'], ['eos', 'eos_token_id'], ['eot', 'eot_token_id'], ['eom', 'eom_token_id'], ['unk', 'unknown_token_id'],
    ['sep', 'seperator_token_id'], ['pad', 'padding_token_id'], ['mask', 'mask_token_id'],
    ['fimPre', 'fim_pre_token_id'], ['fimSuf', 'fim_suf_token_id'], ['fimMid', 'fim_mid_token_id'], ['fimPad', 'fim_pad_token_id'],
    ['fimRep', 'fim_rep_token_id'], ['fimSep', 'fim_sep_token_id'],
    ['fimPre', 'prefix_token_id'], ['fimSuf', 'suffix_token_id'], ['fimMid', 'middle_token_id'],
  ];
  for (const [name, key] of idKeys) {
    const id = num(`tokenizer.ggml.${key}`);
    if (id !== undefined) ids[name] = id;
  }
  return {
    model,
    pre: str('tokenizer.ggml.pre'),
    tokens,
    scores: array<number>('tokenizer.ggml.scores', isNum, 'numbers')?.map(Number),
    tokenTypes: array<number>('tokenizer.ggml.token_type', isNum, 'numbers')?.map(Number),
    merges: array<string>('tokenizer.ggml.merges', (x) => typeof x === 'string', 'strings'),
    special: ids,
    addBos: bool('tokenizer.ggml.add_bos_token'),
    addEos: bool('tokenizer.ggml.add_eos_token'),
    addSpacePrefix: bool('tokenizer.ggml.add_space_prefix'),
    modelName: str('general.name'),
    architecture: str('general.architecture'),
    chatTemplate: str('tokenizer.chat_template'),
    source,
  };
}
