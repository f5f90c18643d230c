// llama.cpp's llama_tokenize / llama_detokenize over a Vocab (SPM or BPE): special-token text is cut
// out first (tokenizer_st_partition), then each remaining text run goes through SPM or BPE.

import { bpeTokenize, CHAR_TO_BYTE } from './bpe';
import { spmTokenize } from './spm';
import { streamDecoderOf, type EncodeOptions, type StreamDecoder, type Tokenizer } from './tokenizerTypes';
import { ATTR, Vocab, type VocabSpec } from './vocab';

type Fragment = { text: string } | { id: number };

const isCSpace = (ch: string): boolean => ch === ' ' || (ch >= '\t' && ch <= '\r');
/** Lone surrogates as U+FFFD, which is what their UTF-8 encoding would give llama.cpp. */
const wellFormed = (text: string): string =>
  text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

export class VocabTokenizer implements Tokenizer {
  readonly vocab: Vocab;
  readonly nWords: number;
  readonly bosId?: number;
  readonly eosId: number;
  readonly stopIds: ReadonlySet<number>;
  readonly chatTemplate?: string;
  private readonly source: string;

  constructor(spec: VocabSpec) {
    this.vocab = new Vocab(spec);
    this.source = spec.source;
    this.nWords = this.vocab.texts.length;
    this.bosId = this.vocab.special.bos;
    const eos = this.vocab.special.eos ?? this.vocab.special.eot;
    if (eos === undefined) throw new Error(`${spec.source}: the vocabulary names no end-of-sequence token`);
    this.eosId = eos;
    this.stopIds = this.vocab.eog;
    this.chatTemplate = spec.chatTemplate;
  }

  /**
   * llama_tokenize(text, add_special, parse_special). add_special adds the BOS/EOS the file asks for
   * (tokenizer.ggml.add_bos_token / add_eos_token, else the vocabulary type's default).
   */
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): number[] {
    const v = this.vocab;
    const fragments = text.length > 0 ? this.partition(wellFormed(text), parseSpecial) : [];
    const out: number[] = [];
    if (addSpecial && v.addBos) out.push(this.requireSpecial('bos'));
    let prevSpecial = true; // SPM: a space is put before the first text run and after each special token
    for (const f of fragments) {
      if ('id' in f) {
        out.push(f.id);
        prevSpecial = true;
        continue;
      }
      if (v.kind === 'spm') {
        const spaced = (v.addSpacePrefix && prevSpecial ? ' ' : '') + f.text;
        spmTokenize(v, spaced.replaceAll(' ', '\u2581'), out, this.source);
        prevSpecial = false;
      } else {
        bpeTokenize(v, v.escapeWhitespace ? f.text.replaceAll(' ', '\u2581') : f.text, out);
      }
    }
    if (addSpecial && v.addEos) out.push(this.requireSpecial('eos'));
    return out;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError('tokenizer.encode: text must be a string');
    const ids = this.tokenize(text, false, opts.parseSpecial ?? false);
    if (opts.bos) ids.unshift(this.requireSpecial('bos'));
    if (opts.eos) ids.push(this.eosId);
    return ids;
  }

  /**
   * What llama.cpp feeds the model for a raw prompt: llama_tokenize(prompt, add_special = true,
   * parse_special = true), as llama.cpp's completion tool calls it (tools/completion). So the file's
   * BOS/EOS rule applies, and text that spells a control token ("<|im_start|>", "</s>") is that token,
   * which is how raw prompts for chat models are written.
   */
  encodeRaw(text: string): number[] {
    return this.tokenize(text, true, true);
  }

  /** llama_token_to_piece(id, special = true): what chat templates get as bos_token / eos_token. */
  tokenText(id: number): string {
    return Buffer.from(this.pieceBytes(id, true)).toString('utf8');
  }

  /** llama_detokenize(ids, remove_special = false, unparse_special = false) without clean-up of spaces. */
  decode(ids: number[]): string {
    const v = this.vocab;
    const bytes: number[] = [];
    let stripSpace = v.addSpacePrefix;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.nWords) {
        throw new RangeError(`tokenizer.decode: token id ${id} is outside the vocabulary [0, ${this.nWords})`);
      }
      const piece = this.pieceBytes(id);
      let from = 0;
      if (stripSpace && piece[0] === 0x20) from = 1;
      stripSpace = false;
      for (let i = from; i < piece.length; i++) bytes.push(piece[i]);
    }
    return Buffer.from(bytes).toString('utf8');
  }

  createStreamDecoder(): StreamDecoder {
    return streamDecoderOf((ids) => this.decode(ids), this.nWords);
  }

  /** llama_token_to_piece(id, special) as bytes. */
  private pieceBytes(id: number, special = false): Uint8Array | number[] {
    const v = this.vocab;
    const attr = v.attrs[id];
    const text = v.texts[id];
    if (!special && attr & (ATTR.CONTROL | ATTR.UNKNOWN)) return [];
    if (attr & (ATTR.CONTROL | ATTR.UNKNOWN | ATTR.USER_DEFINED)) return Buffer.from(text, 'utf8');
    if (attr & ATTR.NORMAL) {
      if (v.escapeWhitespace) return Buffer.from(text.replaceAll('\u2581', ' '), 'utf8');
      const out: number[] = [];
      for (const ch of text) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b !== undefined) out.push(b);
        else out.push(...Buffer.from(`[UNK_BYTE_${ch}]`, 'utf8'));
      }
      return out;
    }
    if (attr & ATTR.BYTE) return [parseInt(text.slice(3, 5), 16)];
    return [];
  }

  private requireSpecial(name: 'bos' | 'eos'): number {
    const id = this.vocab.special[name];
    if (id === undefined) throw new Error(`${this.source}: the vocabulary has no ${name.toUpperCase()} token`);
    return id;
  }

  /** tokenizer_st_partition: special tokens, longest first, cut out of the text runs. */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    const v = this.vocab;
    let fragments: Fragment[] = [{ text }];
    for (const id of v.specialTokens) {
      const attr = v.attrs[id];
      if (!parseSpecial && attr & (ATTR.CONTROL | ATTR.UNKNOWN)) continue;
      const special = v.texts[id];
      const next: Fragment[] = [];
      for (const f of fragments) {
        if ('id' in f || !f.text.includes(special)) {
          next.push(f);
          continue;
        }
        let pos = 0;
        for (;;) {
          const at = f.text.indexOf(special, pos);
          if (at < 0) break;
          let leftEnd = at;
          if (attr & ATTR.LSTRIP) while (leftEnd > pos && isCSpace(f.text[leftEnd - 1])) leftEnd--;
          if (leftEnd > pos) next.push({ text: f.text.slice(pos, leftEnd) });
          next.push({ id });
          pos = at + special.length;
          if (attr & ATTR.RSTRIP) while (pos < f.text.length && isCSpace(f.text[pos])) pos++;
        }
        if (pos < f.text.length) next.push({ text: f.text.slice(pos) });
      }
      fragments = next;
    }
    return fragments;
  }
}
