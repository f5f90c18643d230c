// What the engine needs from a tokenizer, whatever file it came from.

export interface StreamDecoder {
  /** Text that `id` adds to the answer; '' while a multi-byte character is still incomplete. */
  push(id: number): string;
  /** Whatever is still held back (e.g. an unfinished byte sequence, as U+FFFD). */
  flush(): string;
}

export interface EncodeOptions {
  bos?: boolean;
  eos?: boolean;
  /** text that spells a control token (e.g. "<|im_start|>") becomes that token */
  parseSpecial?: boolean;
}

export interface Tokenizer {
  readonly nWords: number;
  readonly bosId?: number;
  readonly eosId: number;
  /** ids that end generation (eos, eot, eom ...) */
  readonly stopIds: ReadonlySet<number>;
  /** the ids of `text`, with BOS/EOS only where asked for */
  encode(text: string, opts?: EncodeOptions): number[];
  /** exactly llama.cpp's tokenisation of a raw prompt for this file (its BOS/EOS rule from metadata) */
  encodeRaw(text: string): number[];
  decode(ids: number[]): string;
  createStreamDecoder(): StreamDecoder;
  /** the model's own chat template (Jinja), when the file has one */
  readonly chatTemplate?: string;
  /** the text of a token id, as the vocabulary spells it (chat templates' bos_token / eos_token) */
  tokenText?(id: number): string;
}

const REPLACEMENT_CHAR = '\uFFFD';

/**
 * Incremental decoding from a whole-sequence decoder: each push() returns what decode() of the whole
 * answer gains from that token, so the pieces concatenate to decode(allIds). Two decodes that start at
 * the same id are compared, so a decoder's first-piece space stripping cancels out, and a trailing
 * U+FFFD (unfinished UTF-8 sequence) is held back until the next token completes it.
 */
export function streamDecoderOf(decode: (ids: number[]) => string, nWords: number): StreamDecoder {
  const ids: number[] = [];
  let windowStart = 0; // first id of the decoded window
  let emittedEnd = 0; // ids before this index have been emitted
  const pending = (final: boolean): string => {
    const done = decode(ids.slice(windowStart, emittedEnd));
    const all = decode(ids.slice(windowStart));
    if (all.length <= done.length || !all.startsWith(done)) return '';
    if (!final && all.endsWith(REPLACEMENT_CHAR)) return '';
    windowStart = emittedEnd;
    emittedEnd = ids.length;
    return all.slice(done.length);
  };
  return {
    push: (id: number): string => {
      if (!Number.isInteger(id) || id < 0 || id >= nWords) {
        throw new RangeError(`stream decoder: token id ${id} is outside the vocabulary [0, ${nWords})`);
      }
      ids.push(id);
      return pending(false);
    },
    flush: (): string => pending(true),
  };
}
