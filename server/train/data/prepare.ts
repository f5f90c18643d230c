// TextSample[] -> TokenizedExample[]: tokenise as the reference does and preprocess images (the
// reference's eval transform; LaVIN's training transform adds no augmentation for ScienceQA).

import * as fs from 'fs';
import { preprocessImage } from '../../engine/image';
import { lavinPrefixes, PromptFamily, tokenizeExample, TokenizedExample } from '../../engine/sequence';
import { TextSample, TextTokenizer } from './tokenize';

export interface PrepareOptions {
  maxWords: number;
  /** Image side (the CLIP resolution). */
  imageSize?: number;
  /** Treat image samples as text-only (no vision tower). */
  ignoreImages?: boolean;
  /** The model's prompt format (a backbone's chat template or raw text; default LaVIN's). */
  family?: PromptFamily;
}

export async function prepareExamples(samples: TextSample[], tok: TextTokenizer, opts: PrepareOptions): Promise<TokenizedExample[]> {
  const out: TokenizedExample[] = [];
  const pixelsCache = new Map<string, Float32Array>();
  for (const s of samples) {
    let pixels: Float32Array | undefined;
    if (s.imagePath && !opts.ignoreImages) {
      pixels = pixelsCache.get(s.imagePath);
      if (!pixels) {
        try {
          pixels = await preprocessImage(fs.readFileSync(s.imagePath), { size: opts.imageSize ?? 224 });
        } catch (e) {
          throw new Error(`${s.source}: image ${s.imagePath}: ${(e as Error).message}`);
        }
        pixelsCache.set(s.imagePath, pixels);
      }
    }
    out.push(tokenizeExample(tok, s.prompt, s.answer, opts.maxWords, pixels ? 'image' : 'text', pixels, s.source, opts.family));
  }
  return out;
}

/** The two prefixes of the training layout, tokenised on their own (engine/sequence.ts). */
export function layoutPrefixes(tok: TextTokenizer): { prefixImage: number[]; prefixText: number[] } {
  return lavinPrefixes(tok);
}
