// Text samples -> token-level training examples, as LaVIN's ScienceQADataSet.tokenize does:
// prompt and prompt+answer are encoded separately (BOS; EOS on the full example), the example is
// padded with -1 or truncated to max_words, the prompt positions of the labels are masked, and
// every negative id becomes 0 (labels 0 are ignored by the loss).

import { Modality, TokenizedExample } from '../sequence';

export interface TextTokenizer {
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
}

/** A training sample before tokenisation. */
export interface TextSample {
  prompt: string;
  answer: string;
  /** Image file for image samples (absolute path). */
  imagePath?: string;
  /** Where it came from, for summaries and errors. */
  source: string;
}

export function tokenizeExample(tok: TextTokenizer, prompt: string, answer: string, maxWords: number, modality: Modality = 'text', pixels?: Float32Array, source?: string): TokenizedExample {
  if (!Number.isInteger(maxWords) || maxWords < 2) throw new Error(`max_words must be an integer >= 2, got ${maxWords}`);
  const promptIds = tok.encode(prompt, { bos: true, eos: false });
  let example = tok.encode(prompt + answer, { bos: true, eos: true });
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

/** Prompts of the reference (spec section 2). */
export function chatPrompt(instruction: string, input?: string): string {
  const text = input && input.trim() ? `${instruction}\n${input}` : instruction;
  return `Instruction: ${text}\nResponse:`;
}
