// The dry run behind lavin/previewVisionData: image-question data validated exactly as
// `lavin/train` with `data` validates it (train/data/llavaInstruct.ts), reduced to counts, the
// skipped list and a few shortened examples for the confirmation dialog. The one check it cannot
// make without the model is the context length: those samples are skipped when training starts,
// and the training result reports them.

import * as path from 'path';
import { LAVIN_FAMILY, promptText } from '../engine/sequence';
import { PreviewVisionDataResult, TrainingSampleExample } from '../protocol';
import { loadVisionDataset } from '../train/data/llavaInstruct';

const MAX_SKIPPED = 50;
const MAX_EXAMPLES = 3;
const MAX_EXAMPLE_CHARS = 300;

export async function previewVisionData(dataDir: string): Promise<PreviewVisionDataResult> {
  const data = await loadVisionDataset(dataDir);
  const examples: TrainingSampleExample[] = data.samples.slice(0, MAX_EXAMPLES).map((s) => ({
    prompt: shorten(promptText(LAVIN_FAMILY, s.prompt)),
    ...(s.instruction !== undefined ? { instruction: shorten(s.instruction) } : {}),
    answer: shorten(s.answer.trim()),
    ...(s.imagePath ? { image: path.relative(dataDir, s.imagePath).split(path.sep).join('/') } : {}),
  }));
  return {
    format: data.format,
    records: data.records,
    samples: data.samples.length,
    skipped: data.skipped.slice(0, MAX_SKIPPED),
    skippedTotal: data.skipped.length,
    examples,
  };
}

function shorten(text: string): string {
  return text.length <= MAX_EXAMPLE_CHARS ? text : `${text.slice(0, MAX_EXAMPLE_CHARS - 1)}…`;
}
