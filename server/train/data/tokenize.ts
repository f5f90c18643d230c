// Text samples, the unit every training data source produces. How a sample becomes tokens and
// labels (ScienceQADataSet.tokenize) and what its prompt text looks like live in
// engine/sequence.ts, the one home of the request-to-sequence mapping.

import { instructionBody, LAVIN_FAMILY, Prompt, promptText, SequenceTokenizer } from '../../engine/sequence';

export { tokenizeExample } from '../../engine/sequence';

export type TextTokenizer = SequenceTokenizer;

/** A training sample before tokenisation. */
export interface TextSample {
  /** The request: a prompt body, or text already in LaVIN's format (chatPrompt, scienceQaPrompt). */
  prompt: Prompt;
  answer: string;
  /** The question alone, without the prompt format (shown in previews). */
  instruction?: string;
  /** Image file for image samples (absolute path). */
  imagePath?: string;
  /** Where it came from, for summaries and errors. */
  source: string;
}

/** LaVIN's instruction prompt for one instruction (and an optional alpaca-style input). */
export function chatPrompt(instruction: string, input?: string): string {
  return promptText(LAVIN_FAMILY, instructionBody(instruction, input));
}
