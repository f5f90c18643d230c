// A vocabulary as llama.cpp's llama_vocab::impl::load leaves it: token texts and attributes, BPE
// merge ranks, special ids, the end-of-generation set and the special-token list that
// tokenizer_st_partition matches. Built from a VocabSpec (GGUF metadata or tokenizer.json).

import { PRE_TOKENIZERS, type PreTokenizer } from './preTokenizers';

/** GGUF tokenizer.ggml.token_type values */
export const enum TokenType { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/** llama_token_attr bits */
export const ATTR = {
  UNDEFINED: 1, UNKNOWN: 2, UNUSED: 4, NORMAL: 8, CONTROL: 16, USER_DEFINED: 32, BYTE: 64,
  NORMALIZED: 128, LSTRIP: 256, RSTRIP: 512,
} as const;

const TYPE_TO_ATTR: Record<number, number> = {
  [TokenType.Undefined]: ATTR.UNDEFINED, [TokenType.Normal]: ATTR.NORMAL, [TokenType.Unknown]: ATTR.UNKNOWN,
  [TokenType.Control]: ATTR.CONTROL, [TokenType.UserDefined]: ATTR.USER_DEFINED, [TokenType.Unused]: ATTR.UNUSED,
  [TokenType.Byte]: ATTR.BYTE,
};

export type SpecialName = 'bos' | 'eos' | 'eot' | 'eom' | 'unk' | 'sep' | 'pad' | 'mask'
  | 'fimPre' | 'fimSuf' | 'fimMid' | 'fimPad' | 'fimRep' | 'fimSep';

/** What a file says about its tokenizer, in llama.cpp's terms. */
export interface VocabSpec {
  /** tokenizer.ggml.model: 'llama' (SentencePiece BPE), 'gpt2' (byte-level BPE), 'gemma4' (SPM-style BPE) */
  model: string;
  /** tokenizer.ggml.pre */
  pre?: string;
  tokens: string[];
  scores?: ArrayLike<number>;
  tokenTypes?: ArrayLike<number>;
  merges?: string[];
  /** ids the file names (out-of-range ones are ignored, as llama.cpp does) */
  special: Partial<Record<SpecialName, number>>;
  addBos?: boolean;
  addEos?: boolean;
  addSpacePrefix?: boolean;
  /** general.name, general.architecture: llama.cpp sets a few token attributes by name */
  modelName?: string;
  architecture?: string;
  chatTemplate?: string;
  /** where it came from, for error messages */
  source: string;
}

const EOT_NAMES = new Set(['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>',
  '[EOT]', '<\uFF5Cend\u2581of\u2581sentence\uFF5C>', '<end_of_utterance>']);
const FIM_NAMES: Array<[SpecialName, string[]]> = [
  ['fimPre', ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<\uFF5Cfim\u2581begin\uFF5C>', '<PRE>', '\u2581<PRE>', '<|code_prefix|>', '<|prefix|>']],
  ['fimSuf', ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<\uFF5Cfim\u2581hole\uFF5C>', '<SUF>', '\u2581<SUF>', '<|code_suffix|>', '<|suffix|>']],
  ['fimMid', ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<\uFF5Cfim\u2581end\uFF5C>', '<MID>', '\u2581<MID>', '<|code_middle|>', '<|middle|>']],
  ['fimPad', ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]']],
  ['fimRep', ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>']],
  ['fimSep', ['<|file_sep|>']],
];
const EOG_NAMES = new Set(['<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>',
  '<turn|>', '<|tool_response>', '<\uFF5Cend\u2581of\u2581sentence\uFF5C>', '[e~[']);

export class Vocab {
  readonly kind: 'spm' | 'bpe';
  readonly texts: string[];
  readonly scores: Float32Array;
  readonly attrs: Uint16Array;
  readonly ids = new Map<string, number>();
  /** merge rank by `left \u0000 right` (pieces never hold NUL) */
  readonly ranks = new Map<string, number>();
  readonly pre?: PreTokenizer;
  readonly special: Partial<Record<SpecialName, number>> = {};
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly escapeWhitespace: boolean;
  readonly eog = new Set<number>();
  /** control, user-defined and unknown tokens, longest text first: what tokenizer_st_partition matches */
  readonly specialTokens: number[];

  constructor(spec: VocabSpec) {
    const src = spec.source;
    let defaults: Partial<Record<SpecialName, number>>;
    let addBos = false;
    let addEos = false;
    let addSpacePrefix = false;
    let escapeWhitespace = true;
    if (spec.model === 'llama') {
      this.kind = 'spm';
      defaults = { bos: 1, eos: 2, unk: 0 };
      addSpacePrefix = true;
      addBos = true;
    } else if (spec.model === 'gpt2' || spec.model === 'gemma4') {
      this.kind = 'bpe';
      const preName = spec.model === 'gemma4' ? 'gemma4' : spec.pre || 'default';
      const pre = PRE_TOKENIZERS[preName];
      if (!pre) throw new Error(`${src}: unsupported pre-tokenizer type '${preName}' (tokenizer.ggml.pre)`);
      this.pre = pre;
      defaults = spec.model === 'gemma4' ? {} : { bos: 11, eos: 11 };
      if (pre.noBos) delete defaults.bos;
      addBos = pre.addBos;
      escapeWhitespace = pre.escapeWhitespace;
      if (!spec.merges) {
        if (preName !== 'kimi-k2') throw new Error(`${src}: byte-level BPE vocabulary without merges (tokenizer.ggml.merges)`);
      } else {
        spec.merges.forEach((merge, rank) => {
          const at = merge.indexOf(' ', 1);
          const key = at >= 0 ? `${merge.slice(0, at)}\u0000${merge.slice(at + 1)}` : '\u0000';
          if (!this.ranks.has(key)) this.ranks.set(key, rank);
        });
      }
    } else {
      throw new Error(`${src}: unsupported tokenizer type '${spec.model}' (tokenizer.ggml.model; supported: llama, gpt2, gemma4)`);
    }
    if (spec.addSpacePrefix !== undefined) addSpacePrefix = spec.addSpacePrefix;
    this.escapeWhitespace = this.kind === 'spm' || escapeWhitespace;

    const n = spec.tokens.length;
    if (n === 0) throw new Error(`${src}: the vocabulary is empty (tokenizer.ggml.tokens)`);
    for (const [what, arr] of [['scores', spec.scores], ['token types', spec.tokenTypes]] as const) {
      if (arr && arr.length < n) throw new Error(`${src}: ${arr.length} ${what} for ${n} tokens`);
    }
    this.texts = new Array<string>(n);
    this.scores = new Float32Array(n);
    this.attrs = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const text = spec.tokens[i] === '' ? `[EMPTY_${i}]` : spec.tokens[i];
      this.texts[i] = text;
      this.ids.set(text, i);
      this.scores[i] = spec.scores ? spec.scores[i] : 0;
      this.attrs[i] = spec.tokenTypes ? TYPE_TO_ATTR[spec.tokenTypes[i]] ?? ATTR.UNDEFINED : ATTR.NORMAL;
    }

    const special = this.special;
    for (const [name, id] of Object.entries(defaults) as Array<[SpecialName, number]>) if (id < n) special[name] = id;
    for (const [name, id] of Object.entries(spec.special) as Array<[SpecialName, number]>) {
      if (Number.isInteger(id) && id >= 0 && id < n) special[name] = id;
    }
    if (this.pre?.noBos) delete special.bos;
    this.addBos = spec.addBos ?? addBos;
    this.addEos = spec.addEos ?? addEos;
    if (spec.model === 'gemma4') this.addBos = true;
    this.addSpacePrefix = this.kind === 'spm' ? addSpacePrefix : spec.addSpacePrefix ?? false;

    this.detectSpecialTokens();
    const specialTokens: number[] = [];
    for (let id = 0; id < n; id++) if (this.attrs[id] & (ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN)) specialTokens.push(id);
    // llama.cpp's std::sort leaves equal lengths in no set order; here: by id
    specialTokens.sort((a, b) => this.texts[b].length - this.texts[a].length || a - b);
    this.specialTokens = specialTokens;
    this.setAttributesByModelName(spec);
  }

  textToToken(text: string): number | undefined {
    return this.ids.get(text);
  }

  rank(left: string, right: string): number {
    return this.ranks.get(`${left}\u0000${right}`) ?? -1;
  }

  private markControl(id: number): void {
    this.attrs[id] |= ATTR.CONTROL;
  }

  /** The by-name guesses llama.cpp makes for files that do not say (EOT, EOM, FIM, unused, EOG). */
  private detectSpecialTokens(): void {
    const s = this.special;
    // llama.cpp walks an unordered_map here; with several candidates the first by id wins
    for (let id = 0; id < this.texts.length; id++) {
      const text = this.texts[id];
      if (s.eot === undefined && EOT_NAMES.has(text)) { s.eot = id; this.markControl(id); }
      if (s.eom === undefined && text === '<|eom_id|>') { s.eom = id; this.markControl(id); }
      if (!text.startsWith('<') && !text.startsWith('\u2581<') && !text.startsWith('[')) continue;
      for (const [name, names] of FIM_NAMES) {
        if (s[name] === undefined && names.includes(text)) { s[name] = id; this.markControl(id); }
      }
    }
    for (let id = 0; id < this.texts.length; id++) {
      if (this.attrs[id] & ATTR.CONTROL && this.texts[id].includes('unused')) this.attrs[id] |= ATTR.UNUSED;
    }
    for (const name of ['fimPad', 'fimRep', 'fimSep'] as const) if (s[name] !== undefined) this.eog.add(s[name]!);
    for (let id = 0; id < this.texts.length; id++) {
      const text = this.texts[id];
      if (EOG_NAMES.has(text)) { this.eog.add(id); this.markControl(id); }
      if (text === '<|channel|>' || text === '<|message|>' || text === '<|start|>' || text === '<|constrain|>') {
        this.attrs[id] = ATTR.USER_DEFINED;
      }
    }
    for (const name of ['eos', 'eot', 'eom'] as const) if (s[name] !== undefined) this.eog.add(s[name]!);
    const eogText = (t: string) => [...this.eog].some((id) => this.texts[id] === t);
    const endId = [...this.eog].find((id) => this.texts[id] === '<|end|>');
    if (endId !== undefined && ((eogText('<|return|>') && (eogText('<|call|>') || eogText('<|calls|>'))) || ((eogText('<|call|>') || eogText('<|calls|>')) && eogText('<|flush|>')))) {
      this.eog.delete(endId);
      this.attrs[endId] = ATTR.USER_DEFINED;
    }
    const sId = [...this.eog].find((id) => this.texts[id] === '</s>');
    if (sId !== undefined && eogText('<|tool_response>')) {
      this.eog.delete(sId);
      this.attrs[sId] = ATTR.NORMAL;
    }
  }

  private setAttributesByModelName(spec: VocabSpec): void {
    const name = (spec.modelName ?? '').toLowerCase();
    const setAttr = (text: string, attr: number, on: boolean) => {
      const id = this.ids.get(text);
      if (id !== undefined) this.attrs[id] = on ? this.attrs[id] | attr : this.attrs[id] & ~attr;
    };
    const pre = spec.pre ?? '';
    const arch = spec.architecture ?? '';
    if (['jina-v2-de', 'jina-v2-es', 'jina-v2-code'].some((p) => pre.includes(p)) || ['nomic-bert-moe', 'jina-bert-v3'].some((a) => arch.includes(a))) {
      setAttr('<mask>', ATTR.LSTRIP, true);
    } else if (name.includes('phi-3') || name.includes('phi3')) {
      for (const id of this.specialTokens) this.attrs[id] |= ATTR.RSTRIP;
      setAttr('</s>', ATTR.RSTRIP, true);
      for (const t of ['<unk>', '<s>', '<|endoftext|>']) setAttr(t, ATTR.RSTRIP, false);
    } else if (name.includes('modern-bert')) {
      setAttr('[MASK]', ATTR.LSTRIP, true);
    }
  }
}
