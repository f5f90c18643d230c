// ScienceQA in its public layout: problems.json ({id: {question, choices, answer, hint, image,
// lecture, solution, split}}), pid_splits.json ({train: [ids], ...}) and images/<split>/<id>/image.png.
// Prompts use LaVIN's QCM-ALE format (spec section 2).

import * as fs from 'fs';
import * as path from 'path';
import { LAVIN_FAMILY, promptText } from '../../engine/sequence';
import { TextSample } from './tokenize';

export interface ScienceQaProblem {
  question: string;
  choices: string[];
  answer: number;
  hint?: string;
  image?: string | null;
  lecture?: string;
  solution?: string;
  split?: string;
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** QCM-ALE: question, context, options (engine/sequence.ts) -> "The answer is X. BECAUSE: lecture solution". */
export function scienceQaPrompt(p: ScienceQaProblem): { prompt: string; answer: string } {
  const prompt = promptText(LAVIN_FAMILY, { kind: 'scienceqa', question: p.question, hint: p.hint, choices: p.choices });
  const lecture = (p.lecture ?? '').replace(/\n/g, '\\n');
  const solution = (p.solution ?? '').replace(/\n/g, '\\n');
  let answer = `The answer is ${LETTERS[p.answer]}. BECAUSE: ${lecture} ${solution}`.replace(/  /g, ' ').trim();
  if (answer.endsWith('BECAUSE:')) answer = answer.replace('BECAUSE:', '').trim();
  return { prompt, answer };
}

export function loadScienceQa(root: string, split = 'train'): TextSample[] {
  const read = (f: string) => {
    const p = path.join(root, f);
    if (!fs.existsSync(p)) throw new Error(`ScienceQA folder ${root}: no ${f}`);
    try {
      return JSON.parse(fs.readFileSync(p, 'utf8'));
    } catch (e) {
      throw new Error(`ScienceQA ${f}: not valid JSON (${(e as Error).message})`);
    }
  };
  const problems = read('problems.json') as Record<string, ScienceQaProblem>;
  const splits = read('pid_splits.json') as Record<string, string[]>;
  const ids = splits[split];
  if (!Array.isArray(ids)) throw new Error(`ScienceQA pid_splits.json has no split "${split}" (has ${Object.keys(splits).join(', ')})`);
  return ids.map((id) => {
    const p = problems[id];
    if (!p) throw new Error(`ScienceQA: problem ${id} of split ${split} is not in problems.json`);
    if (!Array.isArray(p.choices) || !Number.isInteger(p.answer) || p.answer < 0 || p.answer >= p.choices.length) {
      throw new Error(`ScienceQA problem ${id}: "choices" / "answer" are malformed`);
    }
    // The prompt as a body (its text is scienceQaPrompt's): the text read from the image can join its context field (sampleImageText.ts).
    const prompt = { kind: 'scienceqa' as const, question: p.question, hint: p.hint, choices: p.choices };
    const { answer } = scienceQaPrompt(p);
    let imagePath: string | undefined;
    if (p.image) {
      imagePath = path.join(root, 'images', p.split ?? split, id, p.image);
      if (!fs.existsSync(imagePath)) imagePath = path.join(root, p.split ?? split, id, p.image);
      if (!fs.existsSync(imagePath)) throw new Error(`ScienceQA problem ${id}: image ${p.image} not found under images/${p.split ?? split}/${id}/`);
    }
    return { prompt, answer, imagePath, source: `scienceqa:${id}` };
  });
}
