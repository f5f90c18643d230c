// The pre-tokenizer of each `tokenizer.ggml.pre` value: the regex list llama.cpp splits text with
// before BPE (src/llama-vocab.cpp, llm_tokenizer_bpe), and the vocabulary flags the same name sets.
// The regexes are the models' own (their tokenizer.json), in the form llama.cpp runs them; how they
// run is in regexSplit.ts.

export interface PreTokenizer {
  regexes: string[];
  /** GPT-2 byte-to-unicode encoding of each word before merging (false: raw UTF-8, SPM-style BPE) */
  byteEncode: boolean;
  /** a word that is itself a token is taken whole (llama-3, tekken, ...) */
  ignoreMerges: boolean;
  /** spaces become U+2581 before merging (SPM-style BPE: gemma-4) */
  escapeWhitespace: boolean;
  /** add_bos default before the file's own add_bos_token */
  addBos: boolean;
  /** clean_up_tokenization_spaces when decoding */
  cleanSpaces: boolean;
  /** the file's bos id is ignored (chatglm) */
  noBos?: boolean;
  /** a word of newlines that is itself a token is taken whole (gemma-4) */
  wholeNewlineRuns?: boolean;
}

const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN2 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const QWEN35 = `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const UPPER_LOWER = '((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+';
const UPPER_LOWER_2 = '((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*';
const CJK = '[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+';
const HAN_KANA = '[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+';
const SENTENCE = ' ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+';
const CASED_WORDS =
  '[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+' + CONTRACTIONS + '?|' +
  '[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*' + CONTRACTIONS + '?';
const DEEPSEEK_LATIN =
  '\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377' +
  '\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5' +
  '\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D' +
  '\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4' +
  '\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115' +
  '\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184' +
  '\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E' +
  '\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\u{10400}-\u{1044F}\u{104B0}-\u{104D3}' +
  '\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+';
const PUNCT_WORDS =
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const bpe = (regexes: string[], opts: Partial<PreTokenizer> = {}): PreTokenizer => ({
  regexes,
  byteEncode: true,
  ignoreMerges: false,
  escapeWhitespace: false,
  addBos: false,
  cleanSpaces: true,
  ...opts,
});
const raw = { cleanSpaces: false };

const llama3 = bpe([LLAMA3], { ignoreMerges: true, addBos: true });
const gpt2 = bpe([GPT2]);
const qwen2 = bpe([QWEN2], raw);
const starcoder = bpe(['\\p{N}', GPT2]);
const gpt4o = bpe([`[^\\r\\n\\p{L}\\p{N}]?${UPPER_LOWER}${CONTRACTIONS}?|[^\\r\\n\\p{L}\\p{N}]?${UPPER_LOWER_2}${CONTRACTIONS}?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`], raw);
const deepseek3 = bpe(['\\p{N}{1,3}', HAN_KANA, PUNCT_WORDS], raw);
const splitNewlines = bpe(['[^\\n]+|[\\n]+'], { byteEncode: false, escapeWhitespace: true, wholeNewlineRuns: true });

/** Every pre-tokenizer name llama.cpp accepts for a BPE vocabulary, by `tokenizer.ggml.pre`. */
export const PRE_TOKENIZERS: Record<string, PreTokenizer> = {
  default: bpe(['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]']),
  llama3, 'llama-v3': llama3, 'llama-bpe': llama3, falcon3: llama3, 'falcon-h1': llama3, pixtral: llama3,
  'midm-2.0': llama3, lfm2: llama3, 'jina-v5-nano': llama3,
  minicpm5: bpe(['\\p{N}{1,3}', `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`], { ignoreMerges: true }),
  'deepseek-llm': bpe(['[\r\n]', DEEPSEEK_LATIN, '\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+', '\\s+$', CJK, '\\p{N}+'], raw),
  'deepseek-coder': bpe(['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', CJK, '\\p{N}'], raw),
  'deepseek-v3': deepseek3, 'hunyuan-dense': deepseek3, 'joyai-llm': deepseek3,
  youtu: bpe([
    '[\uAC00-\uD7A3\u3131-\u318E]+|[\uFF01\u2026\u201C\u201D\u2018\u2019\u2014\uFF1A\uFF1B\uFF0C\u3001-\u303F\uFE30-\uFE4F]+|[\u3105-\u312F]+|' + HAN_KANA,
    CASED_WORDS + '|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
  ], { ...raw, ignoreMerges: true }),
  falcon: bpe(['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]']),
  mpt: gpt2, starcoder, refact: starcoder, 'command-r': bpe(['\\p{N}', GPT2], raw), smollm: bpe(['\\p{N}', GPT2], raw),
  codeshell: starcoder, exaone: starcoder, 'minerva-7b': starcoder, mellum2: starcoder,
  'gpt-2': gpt2, 'phi-2': gpt2, 'jina-es': gpt2, 'jina-de': gpt2, gigachat: gpt2, 'jina-v2-es': gpt2, 'jina-v2-de': gpt2,
  'a.x-4.0': gpt2, mellum: gpt2, 'modern-bert': gpt2, 'jina-v1-en': gpt2, 'jina-v2-code': gpt2, 'roberta-bpe': gpt2,
  exaone4: gpt2, olmo: gpt2, jais: gpt2, trillion: bpe([GPT2], raw), 'granite-docling': bpe([GPT2], raw),
  'jais-2': bpe([`${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}`]),
  dbrx: bpe([LLAMA3]), 'smaug-bpe': bpe([LLAMA3]),
  gemma4: splitNewlines, 'granite-embed-multi-311m': splitNewlines,
  'sarvam-moe': bpe(['[^\\n]+|[\\n]+'], { byteEncode: false, escapeWhitespace: true, cleanSpaces: false }),
  qwen2, 'deepseek-r1-qwen': qwen2, kormo: qwen2, 'f2llmv2': qwen2, megrez: bpe([QWEN2]),
  qwen35: bpe([QWEN35], raw),
  stablelm2: bpe([QWEN2]), hunyuan: qwen2, 'solar-open': qwen2, 'grok-2': qwen2,
  'poro-chat': bpe([SENTENCE], raw), bloom: bpe([SENTENCE]), 'gpt3-finnish': bpe([SENTENCE]),
  glm4: bpe([LLAMA3], { noBos: true }), 'chatglm-bpe': bpe([LLAMA3], { noBos: true }),
  viking: bpe([SENTENCE, '\\p{N}'], raw),
  tekken: bpe([`[^\\r\\n\\p{L}\\p{N}]?${UPPER_LOWER}|[^\\r\\n\\p{L}\\p{N}]?${UPPER_LOWER_2}|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`], { ...raw, ignoreMerges: true, addBos: true }),
  chameleon: bpe(['<sentinel:[0-9]+>', '(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z', '([\\t\\n]|    |  )', '\\p{N}', '[\\p{P}!-/:-@\\[-`{-~]', GPT2], { ...raw, addBos: true }),
  'gpt-4o': gpt4o, llama4: gpt4o, kanana2: gpt4o, talkie: gpt4o, 'minimax-m2': gpt4o,
  'tiny_aya': bpe(['\\d{1,3}(?=(?:\\d{3})*\\b)', CASED_WORDS + '|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+'], raw),
  'kimi-k2': bpe(['\\p{Han}+'], raw),
  superbpe: bpe(['\\p{N}+', '(?=(\\d{3})+(?!\\d))'], raw),
  bailingmoe: bpe(["'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"], raw),
  'seed-coder': bpe([`${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`], raw),
  afmoe: bpe([
    '\\p{AFMoE_digits}',
    '[\u4E00-\u9FFF\u3400-\u4DBF\u8C48-\uFAFF\u3040-\u309F\u30A0-\u30FF\uFF65-\uFF9F\u2F00-\u2FDF\u0E40-\u0E7F\u0E80-\u0EFF\u1780-\u17FF\u1000-\u109F\uAA60-\uAA7F\uA9E0-\uA9FF\uAC00-\uD7AF\u1100-\u11FF]+',
    PUNCT_WORDS,
  ], raw),
  laguna: bpe(['[^\\n]+|[\\n]+', QWEN2], raw),
  'exaone-moe': bpe([`${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+`]),
};
for (const name of ['bailingmoe2', 'llada-moe']) PRE_TOKENIZERS[name] = PRE_TOKENIZERS.bailingmoe;
for (const name of ['cohere2moe']) PRE_TOKENIZERS[name] = PRE_TOKENIZERS.tiny_aya;

/** The patterns llama.cpp runs with hand-written scanners instead of a regex (regexSplit.ts). */
export const PRE_REGEX = {
  gpt2: GPT2,
  llama3: LLAMA3,
  qwen2: QWEN2,
  qwen35: QWEN35,
  han: '\\p{Han}+',
  afmoeDigits: '\\p{AFMoE_digits}',
  thousandsDigits: '\\d{1,3}(?=(?:\\d{3})*\\b)',
  newlineRuns: '[^\\n]+|[\\n]+',
} as const;
