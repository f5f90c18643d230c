// Training samples with images get the text read from their image (OCR) as context, exactly as an
// image question at inference does (host/imageText.ts): the same reader, the same budget rule and
// cut mark (engine/imageTextContext.ts), the same field (engine/sequence.ts). So a model trained
// here sees its training format again when a user asks about a screenshot.
//
// Where the text goes, by prompt kind:
//   - chat (LLaVA-Instruct conversations, docs images): the context field of the newest user turn
//     (sequence.ts places it after the question), as a chat's image question gets it.
//   - scienceqa: ScienceQA already has a context field, its hint. The read text follows the hint on
//     its own line ({hint}\n{read text}); with no hint it takes the place of "N/A". The budget
//     counts what the read text adds after the hint.
//   - text (a prompt already in the model's format): there is no field to fill; left as it is.
// An image without text adds nothing: the sample's tokens are those it had without OCR.
//
// OCR runs once per distinct image content (SHA-256 of the file's bytes) and is cached in memory;
// examples are tokenised once before the first step, so epochs never run OCR again, and a cache
// passed in by the caller lives across runs (a resumed or repeated run reads nothing twice).
// Reading a folder of screenshots takes a while (~0.5 s a screenshot on 2 cores), all before the first
// training step: `onProgress` tells the caller how far it is, so the wait shows (CLI, VS Code).

import { createHash } from 'crypto';
import * as fs from 'fs';
import { DEFAULT_MAX_NEW_TOKENS, imageTextFor, promptTokenBudget } from '../../engine/imageTextContext';
import { TextReader } from '../../engine/ocr/textReader';
import { asBody, inferenceSequence, LAVIN_FAMILY, lavinPrefixes, PromptBody, promptText, SequenceTokenizer } from '../../engine/sequence';
import { TextSample } from './tokenize';

/** The lines read from one image, by content hash (file bytes -> SHA-256 hex). */
export class ImageTextCache {
  private readonly byHash = new Map<string, string[]>();
  /** OCR runs so far (a cache hit is not one). */
  reads = 0;

  static hashOf(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  get(hash: string): string[] | undefined {
    return this.byHash.get(hash);
  }

  set(hash: string, lines: string[]): void {
    this.byHash.set(hash, lines);
  }
}

export interface SampleImageTextOptions {
  tok: SequenceTokenizer;
  /** Visual tokens per image (the adapter's nVisualTokens): the prompt is counted as inference counts it. */
  nVisual: number;
  /** The model's context length; the budget is inference's for a request with the default answer length. */
  maxSeqLen: number;
  /** Answer tokens inference is assumed to ask for (default: the host's default). */
  maxNewTokens?: number;
  /** Reads an image's lines in reading order; default: a TextReader opened for this call and closed after. */
  read?: (bytes: Uint8Array) => Promise<{ text: string }[]>;
  cache?: ImageTextCache;
  threads?: number;
  /** Told before the first image and after each distinct image file (read or found in the cache). */
  onProgress?: (p: ImageTextProgress) => void;
  /** Stops reading: the samples not reached yet come back as they were (the trainer then stops before its first step). */
  signal?: AbortSignal;
}

/** How far reading is: distinct image files (by path) done of those the samples use, and how many of the done ones had text. */
export interface ImageTextProgress {
  done: number;
  total: number;
  withText: number;
}

export interface SampleImageTextResult {
  samples: TextSample[];
  /** Image samples that got read text as context. */
  withText: number;
  /** Distinct images read by OCR in this call (cache hits excluded). */
  imagesRead: number;
  /** Budget cuts, one line per cut sample. */
  notices: string[];
}

/** The samples with the text read from their images in their context field (samples without an image unchanged). */
export async function addImageText(samples: TextSample[], opts: SampleImageTextOptions): Promise<SampleImageTextResult> {
  const cache = opts.cache ?? new ImageTextCache();
  const before = cache.reads;
  let reader: Promise<TextReader> | undefined;
  const read = opts.read ?? (async (bytes: Uint8Array) => (await (reader ??= TextReader.open({ threads: opts.threads }))).read(bytes));
  const budget = promptTokenBudget(opts.maxSeqLen, opts.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS);
  const count = (body: PromptBody) => inferenceSequence(opts.tok, LAVIN_FAMILY, body, { image: true, nVisual: opts.nVisual }).ids.length;
  const out: TextSample[] = [];
  const notices: string[] = [];
  let withText = 0;
  const needsText = (s: TextSample) => !!s.imagePath && asBody(s.prompt).kind !== 'text';
  const progress: ImageTextProgress = { done: 0, total: new Set(samples.filter(needsText).map((s) => s.imagePath)).size, withText: 0 };
  const doneImages = new Set<string>();
  if (progress.total > 0) opts.onProgress?.({ ...progress });
  try {
    for (const [i, s] of samples.entries()) {
      if (opts.signal?.aborted) {
        out.push(...samples.slice(i));
        break;
      }
      const body = asBody(s.prompt);
      if (!needsText(s) || body.kind === 'text') { // the kind test again narrows body's type for TypeScript
        out.push(s);
        continue;
      }
      const lines = await linesOf(s, cache, read);
      if (!doneImages.has(s.imagePath!)) {
        doneImages.add(s.imagePath!);
        progress.done++;
        if (lines.some((l) => l.trim())) progress.withText++;
        opts.onProgress?.({ ...progress });
      }
      const bodyWith = bodyWithContext(body);
      const context = imageTextFor(lines.map((text) => ({ text })), bodyWith, count, budget);
      notices.push(...context.notices.map((n) => `${s.source}: ${n}`));
      if (!context.text) {
        out.push(s);
        continue;
      }
      out.push({ ...s, prompt: bodyWith(context.text) });
      withText++;
    }
  } finally {
    if (reader) await (await reader.catch(() => undefined))?.dispose();
  }
  return { samples: out, withText, imagesRead: cache.reads - before, notices };
}

async function linesOf(s: TextSample, cache: ImageTextCache, read: (bytes: Uint8Array) => Promise<{ text: string }[]>): Promise<string[]> {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(s.imagePath!);
  } catch (e) {
    throw new Error(`${s.source}: image ${s.imagePath}: ${(e as Error).message}`);
  }
  const hash = ImageTextCache.hashOf(bytes);
  let lines = cache.get(hash);
  if (!lines) {
    try {
      lines = (await read(bytes)).map((l) => l.text);
    } catch (e) {
      throw new Error(`${s.source}: reading the text of image ${s.imagePath}: ${(e as Error).message}`);
    }
    cache.reads++;
    cache.set(hash, lines);
  }
  return lines;
}

/** The body with a read text `c` in its context field (undefined: the body as it was). */
function bodyWithContext(body: Exclude<PromptBody, { kind: 'text' }>): (context?: string) => PromptBody {
  if (body.kind === 'chat') {
    const own = body.context;
    return (c) => ({ ...body, context: joinContext(own, c) });
  }
  return (c) => ({ ...body, hint: joinContext(body.hint, c) });
}

/** A field's own text, then the read text on its own line. */
function joinContext(own: string | undefined, read: string | undefined): string | undefined {
  if (read === undefined || read === '') return own;
  const first = (own ?? '').trim();
  return first ? `${first}\n${read}` : read;
}

/**
 * Training positions the longest image sample needs whole (prompt with its read text, answer, the
 * image prefix, the visual slots and the modality token), 0 without image samples: the layout
 * cuts what does not fit, and the answer comes last.
 */
export function imageSampleWords(samples: TextSample[], tok: SequenceTokenizer, nVisual: number): number {
  const extra = lavinPrefixes(tok).prefixImage.length + nVisual + 1;
  let longest = 0;
  for (const s of samples) {
    if (s.imagePath) longest = Math.max(longest, tok.encode(promptText(LAVIN_FAMILY, s.prompt) + s.answer, { bos: true, eos: true }).length + extra);
  }
  return longest;
}
