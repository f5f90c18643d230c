// The dry run behind lavin/previewTraining: the docs dataset exactly as training builds it,
// reduced to counts, the skipped list and a few shortened examples for a confirmation dialog.

import * as path from 'path';
import { LAVIN_FAMILY, promptText } from '../engine/sequence';
import { PreviewTrainingResult, TrainingSampleExample } from '../protocol';
import { DocsDataset } from '../train/data/docs';

const MAX_SKIPPED = 50;
const MAX_EXAMPLES = 3;
const MAX_EXAMPLE_CHARS = 300;

export function summarizeDocsDataset({ samples, summary }: DocsDataset): PreviewTrainingResult {
  const examples: TrainingSampleExample[] = samples.slice(0, MAX_EXAMPLES).map((s) => ({
    prompt: shorten(promptText(LAVIN_FAMILY, s.prompt)),
    ...(s.instruction !== undefined ? { instruction: shorten(s.instruction) } : {}),
    answer: shorten(s.answer),
    ...(s.imagePath ? { image: path.relative(summary.root, s.imagePath).split(path.sep).join('/') } : {}),
  }));
  return {
    documents: summary.filesScanned,
    documentsUsed: summary.filesUsed.length,
    samples: samples.length,
    textSamples: summary.textSamples,
    imageSamples: summary.imageSamples,
    skipped: summary.skipped.slice(0, MAX_SKIPPED),
    skippedTotal: summary.skipped.length,
    examples,
  };
}

function shorten(text: string): string {
  return text.length <= MAX_EXAMPLE_CHARS ? text : `${text.slice(0, MAX_EXAMPLE_CHARS - 1)}…`;
}
