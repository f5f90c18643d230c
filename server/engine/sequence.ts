// The one mapping from a request to the LLM's token sequence. Inference (lavinModel.ts), training
// (train/data, train/sequence.ts), the ScienceQA evaluator and the host's context fitting all call
// it; no other source file writes a prompt literal.
//
// A request is a prompt body (a chat, a ScienceQA problem, or text already in the model's format),
// optional context text and whether an image comes with it. A prompt family says how a body becomes
// tokens:
//
// - lavin (LaVIN's layout, spec section 2): the modality token (row 0: the adapter modality
//   embedding, which routes every block; not a token id), then
//     [BOS] "Image: " [visual token x nVisual] {prompt}      with an image
//     [BOS] "Image: N/A" {prompt}                            without
//   where {prompt} is the instruction format, earlier turns first:
//     Instruction: {user 1}\nResponse: {assistant 1}\nInstruction: {user 2}\nResponse:
//   or the ScienceQA QCM format "Question: ...\nContext: ...\nOptions: (A) ... (B) ...\nResponse:".
//   Each part is tokenised on its own (the prefix, then the prompt), as the reference does.
// - chatTemplate: the backbone's own chat template, rendered by `render(messages)` (the tokenizer's
//   Jinja template), tokenised with special tokens parsed; no image prefix, no modality token.
// - raw: the text exactly as given, tokenised as llama.cpp would (the tokenizer's own BOS rule); no
//   template, no wrapper, no modality token.
//
// Context (e.g. text read from a screenshot) is a field of the newest user turn, after its text:
//   Instruction: {user}\nContext: {context}\nResponse:        (lavin; a template sees the same user text)
// which is where ScienceQA's own Context field sits, after the question.
//
// Training (lavin only: adapters exist only in LaVIN's layout) tokenises prompt and prompt+answer
// as ScienceQADataSet.tokenize does and lays the example out as Transformer.forward does
// (insert_image_embeds, the truncations, the modality token prepended): tokenizeExample and
// layoutExample below. Inference builds its ids with the same lavinSlots, so both agree up to the
// answer (test/unit/sequence.test.ts checks it through both paths).

export type Modality = 'text' | 'image';

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

/** What is asked, before any prompt format. */
export type PromptBody =
  /** A conversation, oldest first, ending with the user's turn; `context` joins that turn. */
  | { kind: 'chat'; turns: Turn[]; context?: string }
  /** A ScienceQA problem (QCM): `hint` is its context ('' or absent: N/A). */
  | { kind: 'scienceqa'; question: string; hint?: string; choices: string[] }
  /** Text already in the family's prompt format, used as is. */
  | { kind: 'text'; text: string };

/** A body, or a string: text already in the family's prompt format. */
export type Prompt = string | PromptBody;

/** A backbone's chat template applied to the messages (the tokenizer module renders it). */
export type ChatTemplate = (messages: Turn[]) => string;

export type PromptFamily =
  | { kind: 'lavin' }
  | { kind: 'chatTemplate'; render: ChatTemplate }
  | { kind: 'raw' };

export const LAVIN_FAMILY: PromptFamily = { kind: 'lavin' };

/** What the mapping needs from a tokenizer (LlamaTokenizer and the tokenizer module's Tokenizer fit). */
export interface SequenceTokenizer {
  encode(text: string, opts?: { bos?: boolean; eos?: boolean; parseSpecial?: boolean }): number[];
  /** llama.cpp's tokenisation of a raw prompt (its BOS/EOS rule); default: encode with BOS. */
  encodeRaw?(text: string): number[];
}

// ---- the literals -------------------------------------------------------------------------------

const IMAGE_PREFIX = 'Image: ';
const NO_IMAGE_PREFIX = 'Image: N/A';
const INSTRUCTION = 'Instruction: ';
const RESPONSE = '\nResponse:';
const CONTEXT = '\nContext: ';
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

// ---- prompt text --------------------------------------------------------------------------------

export function asBody(prompt: Prompt): PromptBody {
  return typeof prompt === 'string' ? { kind: 'text', text: prompt } : prompt;
}

/** A single-turn chat body (the alpaca-style `input`, when given, follows the instruction on its own line). */
export function instructionBody(instruction: string, input?: string, context?: string): PromptBody {
  const content = input && input.trim() ? `${instruction}\n${input}` : instruction;
  return { kind: 'chat', turns: [{ role: 'user', content }], context };
}

/** The user text with the context field after it (the rule every family shares). */
function withContext(content: string, context: string | undefined): string {
  return context === undefined || context === '' ? content : `${content}${CONTEXT}${context}`;
}

/** The turns a family's template sees: the context joined to the newest user turn. */
export function chatMessages(body: Extract<PromptBody, { kind: 'chat' }>): Turn[] {
  checkTurns(body.turns);
  const last = body.turns.length - 1;
  return body.turns.map((t, i) => (i === last ? { role: t.role, content: withContext(t.content, body.context) } : t));
}

function checkTurns(turns: Turn[]): void {
  if (turns.length === 0) throw new Error('prompt: a chat needs at least one turn');
  if (turns[turns.length - 1].role !== 'user') throw new Error('prompt: a chat must end with a user turn');
}

/** ScienceQA's QCM prompt as LaVIN formats it (double spaces collapsed, as the reference does). */
function scienceQaText(q: Extract<PromptBody, { kind: 'scienceqa' }>): string {
  const context = (q.hint ?? '').trim() || 'N/A';
  const options = q.choices.map((c, i) => `(${LETTERS[i]}) ${c}`).join(' ');
  return `Question: ${q.question}${CONTEXT}${context}\nOptions: ${options}${RESPONSE}`.replace(/ {2}/g, ' ');
}

/** The prompt text of a body in a family's format (what comes after the image prefix, for LaVIN). */
export function promptText(family: PromptFamily, prompt: Prompt): string {
  const body = asBody(prompt);
  if (body.kind === 'text') return body.text;
  if (family.kind === 'raw') throw new Error('prompt: a raw prompt is text as given; chats and ScienceQA problems need a prompt format');
  if (body.kind === 'scienceqa') {
    if (family.kind !== 'lavin') throw new Error('prompt: the ScienceQA format is LaVIN\'s; this model uses its own chat template');
    return scienceQaText(body);
  }
  const turns = chatMessages(body);
  if (family.kind === 'chatTemplate') return family.render(turns);
  let out = '';
  for (const t of turns) out += t.role === 'user' ? `${INSTRUCTION}${t.content}${RESPONSE}` : ` ${t.content}\n`;
  return out;
}

// ---- tokens for inference -----------------------------------------------------------------------

export interface InferenceSequence {
  /** Token ids in order (after the modality token); visual slots hold 0. */
  ids: number[];
  /** Where the visual tokens go: ids[offset .. offset + count). */
  visual?: { offset: number; count: number };
  /** The modality token before ids (LaVIN only: it routes every block); absent: none. */
  modality?: Modality;
}

export interface SequenceOptions {
  /** Whether an image comes with the request (its visual tokens fill the slots). */
  image: boolean;
  /** Visual tokens per image (the adapter's nVisualTokens). */
  nVisual: number;
}

/** The prefix ids of LaVIN's layout, each tokenised on its own without BOS (as the reference). */
export function lavinPrefixes(tok: SequenceTokenizer): { prefixImage: number[]; prefixText: number[] } {
  return { prefixImage: tok.encode(IMAGE_PREFIX, { bos: false }), prefixText: tok.encode(NO_IMAGE_PREFIX, { bos: false }) };
}

/** A position of the LLM sequence after the modality token. */
export type Slot = { token: number } | { visual: number };

/**
 * LaVIN's order of the sequence after the modality token, given [BOS, ...text ids]: BOS, the image
 * prefix (or the no-image one), the visual slots, the text. Inference and training both call it.
 */
export function lavinSlots<T>(bosAndText: readonly T[], image: boolean, prefixes: { prefixImage: number[]; prefixText: number[] }, nVisual: number, token: (id: number) => T, visual: (v: number) => T): T[] {
  const out: T[] = [bosAndText[0], ...(image ? prefixes.prefixImage : prefixes.prefixText).map(token)];
  if (image) for (let v = 0; v < nVisual; v++) out.push(visual(v));
  for (let i = 1; i < bosAndText.length; i++) out.push(bosAndText[i]);
  return out;
}

/** The ids a request is prefilled with, where its visual tokens go, and its modality token. */
export function inferenceSequence(tok: SequenceTokenizer, family: PromptFamily, prompt: Prompt, opts: SequenceOptions): InferenceSequence {
  const text = promptText(family, prompt);
  if (family.kind !== 'lavin') {
    if (opts.image) throw new Error(`prompt: images need LaVIN's layout (vision adapters); a ${family.kind === 'raw' ? 'raw prompt' : 'chat template'} has no place for them`);
    const ids = family.kind === 'raw' ? (tok.encodeRaw ? tok.encodeRaw(text) : tok.encode(text, { bos: true })) : tok.encode(text, { bos: false, parseSpecial: true });
    return { ids };
  }
  const prefixes = lavinPrefixes(tok);
  const ids = lavinSlots(tok.encode(text, { bos: true }), opts.image, prefixes, opts.nVisual, (id) => id, () => 0);
  if (!opts.image) return { ids, modality: 'text' };
  return { ids, visual: { offset: 1 + prefixes.prefixImage.length, count: opts.nVisual }, modality: 'image' };
}

// ---- tokens for training ------------------------------------------------------------------------

/** One tokenised training example (the output of ScienceQADataSet.tokenize). */
export interface TokenizedExample {
  modality: Modality;
  /** [BOS] prompt answer [EOS], zero-padded (or truncated) to max_words. */
  inputIds: number[];
  /** inputIds with BOS and prompt positions (and pads) set to 0. */
  labels: number[];
  /** Preprocessed image [3, R, R] for image examples. */
  pixels?: Float32Array;
  /** Where the example came from (file, record) for error messages and summaries. */
  source?: string;
}

/**
 * A training example as ScienceQADataSet.tokenize builds it: prompt and prompt+answer encoded
 * separately (BOS; EOS on the full example), padded with -1 or truncated to max_words, the prompt
 * positions of the labels masked, and every negative id made 0 (labels 0 are ignored by the loss).
 */
export function tokenizeExample(tok: SequenceTokenizer, prompt: Prompt, answer: string, maxWords: number, modality: Modality = 'text', pixels?: Float32Array, source?: string, family: PromptFamily = LAVIN_FAMILY): TokenizedExample {
  if (!Number.isInteger(maxWords) || maxWords < 2) throw new Error(`max_words must be an integer >= 2, got ${maxWords}`);
  const text = promptText(family, prompt);
  // A backbone's own format (chat template, raw text) encodes as inferenceSequence does; EOS ends the answer.
  const encode = (t: string, eos: boolean): number[] => {
    if (family.kind === 'lavin') return tok.encode(t, { bos: true, eos });
    const ids = family.kind === 'raw' ? (tok.encodeRaw ? tok.encodeRaw(t) : tok.encode(t, { bos: true })) : tok.encode(t, { bos: false, parseSpecial: true });
    return eos ? ids.concat(tok.encode('', { bos: false, eos: true })) : ids;
  };
  const promptIds = encode(text, false);
  let example = encode(text + answer, true);
  if (example.length < maxWords) example = example.concat(new Array(maxWords - example.length).fill(-1));
  else example = example.slice(0, maxWords);
  const labels = example.map((id, i) => (i < promptIds.length ? -1 : id));
  return {
    modality,
    inputIds: example.map((id) => (id < 0 ? 0 : id)),
    labels: labels.map((id) => (id < 0 ? 0 : id)),
    pixels,
    source,
  };
}

export interface LaidOutExample {
  modality: Modality;
  /** Positions 1..T-1 (position 0 is the modality token). */
  slots: Slot[];
  /** Labels aligned with all T positions (0 = ignored); the loss uses labelsInserted[1..]. */
  labelsInserted: number[];
  pixels?: Float32Array;
  source?: string;
}

export interface LayoutConfig {
  /** T: positions in the LLM sequence (the reference's max_words). */
  seqLen: number;
  /** Ids of the image prefix and the no-image prefix (lavinPrefixes). */
  prefixImage: number[];
  prefixText: number[];
  nVisual: number;
}

/**
 * The training layout of a tokenised example, exactly as the reference builds it (insert_image_embeds
 * on [BOS] prompt answer [EOS], truncation to max_words, the modality token prepended and the
 * sequence truncated again): slots for positions 1..T-1 and labels for all T positions.
 */
export function layoutExample(ex: TokenizedExample, cfg: LayoutConfig): LaidOutExample {
  const T = cfg.seqLen;
  const where = ex.source ? ` (${ex.source})` : '';
  if (ex.inputIds.length !== ex.labels.length) throw new Error(`training example${where}: ${ex.inputIds.length} ids but ${ex.labels.length} labels`);
  if (ex.inputIds.length < 1) throw new Error(`training example${where}: no tokens`);
  if (ex.modality === 'image' && !ex.pixels) throw new Error(`training example${where}: image example without pixels`);
  const image = ex.modality === 'image';
  const pairs = ex.inputIds.map((id, i) => ({ slot: { token: id } as Slot, label: ex.labels[i] }));
  const laid = lavinSlots(pairs, image, cfg, cfg.nVisual, (id) => ({ slot: { token: id }, label: 0 }), (v) => ({ slot: { visual: v }, label: 0 }));
  // insert_image_embeds truncates to the example length, then the modality token is prepended and
  // the sequence truncated to it again.
  const n = ex.inputIds.length;
  const keptSlots = laid.slice(0, n).slice(0, T - 1).map((p) => p.slot);
  const keptLabels = [0, ...laid.slice(0, n).map((p) => p.label)].slice(0, T);
  while (keptSlots.length < T - 1) keptSlots.push({ token: 0 });
  while (keptLabels.length < T) keptLabels.push(0);
  return { modality: ex.modality, slots: keptSlots, labelsInserted: keptLabels, pixels: ex.pixels, source: ex.source };
}

export function labelledCount(ex: LaidOutExample): number {
  let n = 0;
  for (let i = 1; i < ex.labelsInserted.length; i++) if (ex.labelsInserted[i] !== 0) n++;
  return n;
}
