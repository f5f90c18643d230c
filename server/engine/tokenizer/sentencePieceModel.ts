// LLaMA-1 SentencePiece tokenizer, read from the user's `tokenizer.model` (LaVIN model folders).
// Encoding and decoding run in SentencePiece's own C++ (compiled to WASM by @sctg/sentencepiece-js), so
// ids are the ones LaVIN's lavin/tokenizer.py gets. That binding exposes no vocabulary size and no
// special ids, so a small protobuf reader takes those from the ModelProto itself.

import { promises as fs } from 'fs';
import { streamDecoderOf, type EncodeOptions, type StreamDecoder, type Tokenizer } from './tokenizerTypes';

// The package is ESM-only; a dynamic import loads it from this CommonJS module on every Node 20.
type SentencePieceModule = typeof import('@sctg/sentencepiece-js', { with: { 'resolution-mode': 'import' } });
type SentencePieceProcessor = InstanceType<SentencePieceModule['SentencePieceProcessor']>;
let sentencePieceModule: Promise<SentencePieceModule> | undefined;
const loadSentencePiece = () => (sentencePieceModule ??= import('@sctg/sentencepiece-js'));

/** What the ModelProto says about the vocabulary. */
export interface SentencePieceModelInfo {
  pieces: string[];
  /** SentencePiece.Type per piece: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  types: number[];
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
}

export class SentencePieceModelTokenizer implements Tokenizer {
  readonly nWords: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly stopIds: ReadonlySet<number>;

  private constructor(
    private readonly processor: SentencePieceProcessor,
    readonly info: SentencePieceModelInfo,
  ) {
    this.nWords = info.pieces.length;
    this.bosId = info.bosId;
    this.eosId = info.eosId;
    this.stopIds = new Set([info.eosId]);
  }

  static async fromFile(path: string): Promise<SentencePieceModelTokenizer> {
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ENOENT'
          ? `tokenizer file not found: ${path}`
          : `cannot read tokenizer file ${path}: ${(err as Error).message}`,
      );
    }
    return SentencePieceModelTokenizer.fromBytes(bytes, path);
  }

  static async fromBytes(bytes: Uint8Array, source = '<bytes>'): Promise<SentencePieceModelTokenizer> {
    let info: SentencePieceModelInfo;
    try {
      info = parseSentencePieceModel(bytes);
    } catch (err) {
      throw new Error(`${source} is not a SentencePiece model (tokenizer.model): ${(err as Error).message}`);
    }
    const { SentencePieceProcessor } = await loadSentencePiece();
    const processor = new SentencePieceProcessor();
    // The library's load() drops SentencePiece's status, so load through its private helper and check it.
    const loader = processor as unknown as { _loadModel(model: Uint8Array): Promise<void> };
    await loader._loadModel(bytes);
    const status = (processor.processor as { status(): { ToString(): string; delete(): void } }).status();
    const statusText = status.ToString();
    status.delete();
    if (statusText !== 'OK') {
      throw new Error(`${source} is not a SentencePiece model (tokenizer.model): SentencePiece says ${statusText}`);
    }
    return new SentencePieceModelTokenizer(processor, info);
  }

  /** Same as LaVIN's Tokenizer.encode(s, bos, eos): SentencePiece ids, optionally wrapped in BOS/EOS. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError('tokenizer.encode: text must be a string');
    const ids = this.processor.encodeIds(text);
    if (opts.bos) ids.unshift(this.bosId);
    if (opts.eos) ids.push(this.eosId);
    return ids;
  }

  /** SentencePiece's DecodeIds: control tokens vanish, the first piece's leading "▁" is dropped. */
  decode(ids: number[]): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.nWords) {
        throw new RangeError(`tokenizer.decode: token id ${id} is outside the vocabulary [0, ${this.nWords})`);
      }
    }
    if (ids.length === 0) return '';
    return this.processor.decodeIds(Int32Array.from(ids)) as string;
  }

  /** LaVIN's raw prompt: BOS, then the text (SentencePiece does not parse control-token text). */
  encodeRaw(text: string): number[] {
    return this.encode(text, { bos: true });
  }

  tokenText(id: number): string {
    return this.info.pieces[id];
  }

  /** Incremental decoding for streaming answers (see streamDecoderOf). */
  createStreamDecoder(): StreamDecoder {
    return streamDecoderOf((ids) => this.decode(ids), this.nWords);
  }
}

// --- ModelProto reader (sentencepiece_model.proto): only the fields the tokenizer needs. ---

const MODEL_PIECES = 1;
const MODEL_TRAINER_SPEC = 2;
const PIECE_TEXT = 1;
const PIECE_TYPE = 3;
const TRAINER_UNK_ID = 40;
const TRAINER_BOS_ID = 41;
const TRAINER_EOS_ID = 42;
const TRAINER_PAD_ID = 43;
const PIECE_TYPE_NORMAL = 1;

interface WireField {
  no: number;
  wireType: number;
  /** varint value (wire type 0) */
  value: number;
  /** payload (wire type 2) */
  bytes?: Uint8Array;
}

/** Iterates the fields of one protobuf message; throws on malformed wire data. */
function* readFields(buf: Uint8Array): Generator<WireField> {
  let pos = 0;
  // Returns the low 32 bits, unsigned: enough for lengths, enums and int32 (negatives use 10 bytes).
  const varint = (): number => {
    let low = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++];
      if (i < 5) low += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return low % 2 ** 32;
    }
    throw new Error('varint longer than 10 bytes');
  };
  while (pos < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const wireType = key & 7;
    if (no === 0) throw new Error('field number 0');
    switch (wireType) {
      case 0:
        yield { no, wireType, value: varint() };
        break;
      case 1:
        pos += 8;
        yield { no, wireType, value: 0 };
        break;
      case 2: {
        const len = varint();
        if (pos + len > buf.length) throw new Error(`field ${no} runs past the end of the data`);
        yield { no, wireType, value: len, bytes: buf.subarray(pos, pos + len) };
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        yield { no, wireType, value: 0 };
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${wireType}`);
    }
    if (pos > buf.length) throw new Error('truncated field');
  }
}

/** int32 fields: reinterpret the low 32 bits as signed. */
function toInt32(v: number): number {
  return v | 0;
}

export function parseSentencePieceModel(bytes: Uint8Array): SentencePieceModelInfo {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const types: number[] = [];
  // proto defaults
  let unkId = 0;
  let bosId = 1;
  let eosId = 2;
  let padId = -1;
  for (const f of readFields(bytes)) {
    if (f.no === MODEL_PIECES && f.bytes) {
      let text: string | undefined;
      let type = PIECE_TYPE_NORMAL;
      for (const pf of readFields(f.bytes)) {
        if (pf.no === PIECE_TEXT && pf.bytes) text = utf8.decode(pf.bytes);
        else if (pf.no === PIECE_TYPE && pf.wireType === 0) type = pf.value;
      }
      if (text === undefined) throw new Error(`piece ${pieces.length} has no text`);
      pieces.push(text);
      types.push(type);
    } else if (f.no === MODEL_TRAINER_SPEC && f.bytes) {
      for (const tf of readFields(f.bytes)) {
        if (tf.wireType !== 0) continue;
        if (tf.no === TRAINER_UNK_ID) unkId = toInt32(tf.value);
        else if (tf.no === TRAINER_BOS_ID) bosId = toInt32(tf.value);
        else if (tf.no === TRAINER_EOS_ID) eosId = toInt32(tf.value);
        else if (tf.no === TRAINER_PAD_ID) padId = toInt32(tf.value);
      }
    } else if (f.no === MODEL_PIECES || f.no === MODEL_TRAINER_SPEC) {
      throw new Error(`field ${f.no} has the wrong wire type`);
    }
  }
  if (pieces.length === 0) throw new Error('no vocabulary pieces found');
  for (const [name, id] of [['unk', unkId], ['bos', bosId], ['eos', eosId]] as const) {
    if (id < 0 || id >= pieces.length) throw new Error(`${name} id ${id} is outside the vocabulary of ${pieces.length}`);
  }
  return { pieces, types, unkId, bosId, eosId, padId };
}
