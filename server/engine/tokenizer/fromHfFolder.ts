// A tokenizer from a Hugging Face folder: tokenizer.json (+ tokenizer_config.json for BOS/EOS, the
// add_bos/add_eos rule and the chat template). Byte-level BPE (Llama-3, Qwen2, GPT-2) is mapped onto
// the same vocabulary as llama.cpp's converter writes into GGUF (tokens, merges, control/user-defined
// added tokens, the pre-tokenizer named by its split regex) and tokenised by the same code. An
// SPM-style folder (Llama-2, Mistral, TinyLlama) uses its tokenizer.model through SentencePiece.

import * as fs from 'fs';
import * as path from 'path';
import { TokenType, type VocabSpec } from './vocab';
import { VocabTokenizer } from './vocabTokenizer';

/** tokenizer.json Split regexes -> llama.cpp pre-tokenizer names (convert_hf_to_gguf identifies them by their output). */
const SPLIT_REGEX_PRE: Record<string, string> = {
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'llama-bpe',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'qwen2',
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)": 'gpt-2',
};

interface AddedToken { id: number; content: string; special?: boolean }
type TokenRef = string | { content?: string } | null | undefined;

function readJson(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `not valid JSON: ${(err as Error).message}`}`);
  }
}

/** Whether the folder's tokenizer is SentencePiece-style (spaces as U+2581) rather than byte-level. */
export function isSentencePieceStyle(tokenizerJson: any): boolean {
  const text = JSON.stringify([tokenizerJson.normalizer, tokenizerJson.pre_tokenizer, tokenizerJson.decoder]);
  return !text.includes('"ByteLevel"') && (text.includes('\u2581') || text.includes('Metaspace'));
}

export function tokenizerFromHfFolder(dir: string): VocabTokenizer {
  return new VocabTokenizer(vocabSpecFromHfFolder(dir));
}

export function vocabSpecFromHfFolder(dir: string): VocabSpec {
  const file = path.join(dir, 'tokenizer.json');
  const tj = readJson(file);
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configFile) ? readJson(configFile) : {};
  const type = tj?.model?.type;
  if (type !== 'BPE') throw new Error(`${file}: unsupported tokenizer type ${type === 'WordPiece' ? 'WPM (WordPiece)' : type === 'Unigram' ? 'UGM (Unigram)' : String(type)} (supported: BPE)`);
  if (isSentencePieceStyle(tj)) throw new Error(`${file}: a SentencePiece-style BPE; it is read from the folder's tokenizer.model`);
  const splits: string[] = [];
  const walk = (p: any): void => {
    if (!p) return;
    if (p.type === 'Sequence') (p.pretokenizers ?? []).forEach(walk);
    if (p.type === 'Split' && typeof p.pattern?.Regex === 'string') splits.push(p.pattern.Regex);
  };
  walk(tj.pre_tokenizer);
  let pre: string | undefined;
  if (splits.length === 0) pre = 'gpt-2';
  else if (splits.length === 1) pre = SPLIT_REGEX_PRE[splits[0]];
  if (!pre) throw new Error(`${file}: unsupported pre-tokenizer (split regex ${JSON.stringify(splits)})`);

  const vocab: Record<string, number> = tj.model.vocab ?? {};
  const added: AddedToken[] = tj.added_tokens ?? [];
  let n = 0;
  for (const id of Object.values(vocab)) n = Math.max(n, id + 1);
  for (const a of added) n = Math.max(n, a.id + 1);
  const tokens = new Array<string>(n);
  const types = new Array<number>(n).fill(TokenType.Normal);
  for (const [text, id] of Object.entries(vocab)) tokens[id] = text;
  for (const a of added) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? TokenType.Control : TokenType.UserDefined;
  }
  for (let i = 0; i < n; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TokenType.Undefined;
    }
  }
  const merges: string[] = (tj.model.merges ?? []).map((m: string | [string, string]) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));
  const idOf = (ref: TokenRef): number | undefined => {
    const text = typeof ref === 'string' ? ref : ref?.content;
    return text === undefined ? undefined : tokens.indexOf(text) >= 0 ? tokens.indexOf(text) : undefined;
  };
  const special: VocabSpec['special'] = {};
  const bos = idOf(config.bos_token);
  const eos = idOf(config.eos_token);
  const pad = idOf(config.pad_token);
  if (bos !== undefined) special.bos = bos;
  if (eos !== undefined) special.eos = eos;
  if (pad !== undefined) special.pad = pad;
  const template = Array.isArray(config.chat_template)
    ? config.chat_template.find((t: { name?: string }) => t.name === 'default')?.template
    : config.chat_template;
  return {
    model: 'gpt2',
    pre,
    tokens,
    tokenTypes: types,
    merges,
    special,
    addBos: typeof config.add_bos_token === 'boolean' ? config.add_bos_token : undefined,
    addEos: typeof config.add_eos_token === 'boolean' ? config.add_eos_token : undefined,
    chatTemplate: typeof template === 'string' ? template : undefined,
    source: file,
  };
}
