// How far text-only answers move between two adapter sets of one model: for each fixed prompt, the
// KL divergence of the first answer token's distribution (before || after, nats) and whether the
// greedy continuation is the same. (Later tokens are compared as greedy sequences, not by KL,
// because their prefixes differ once one token does.)

import { GenerateRequest, GenerateResult } from '../../engine/api';

export interface TextDriftGenerator {
  generate(req: GenerateRequest): Promise<GenerateResult>;
}

export interface TextSnapshot {
  /** Log-probabilities of the first answer token, per prompt. */
  firstLogProbs: Float64Array[];
  /** Greedy token ids per prompt. */
  greedy: number[][];
}

export const TEXT_DRIFT_PROMPTS = [
  'What is the capital of France?',
  'Write a haiku about the sea.',
  'Explain what a compiler does.',
  'How do I reverse a list in Python?',
  'Name three primary colours.',
  'What does HTTP stand for?',
  'Summarise the plot of Hamlet in one sentence.',
  'Why is the sky blue?',
  'Give me a synonym for happy.',
  'What is 12 times 7?',
];

/** log p of every token from one row of logits (float64, max-shifted). */
export function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - lse);
}

export async function textSnapshot(model: TextDriftGenerator, prompts: string[] = TEXT_DRIFT_PROMPTS, opts: { maxNewTokens?: number; positionMode?: GenerateRequest['positionMode'] } = {}): Promise<TextSnapshot> {
  const firstLogProbs: Float64Array[] = [];
  const greedy: number[][] = [];
  for (const p of prompts) {
    let first: Float64Array | undefined;
    const r = await model.generate({
      prompt: { kind: 'chat', turns: [{ role: 'user', content: p }] }, temperature: 0, maxNewTokens: opts.maxNewTokens ?? 8, positionMode: opts.positionMode,
      onLogits: (logits, index) => {
        if (index === 0) first = logSoftmax(logits);
      },
    });
    if (!first) throw new Error(`text drift: no logits for prompt "${p}"`);
    firstLogProbs.push(first);
    greedy.push(r.tokens);
  }
  return { firstLogProbs, greedy };
}

export interface TextDrift {
  /** Mean over prompts of KL(before || after) of the first answer token, nats. */
  meanKl: number;
  maxKl: number;
  /** Share of prompts whose greedy continuation is unchanged. */
  sameGreedy: number;
}

export function textDrift(before: TextSnapshot, after: TextSnapshot): TextDrift {
  const kls = before.firstLogProbs.map((b, i) => {
    const a = after.firstLogProbs[i];
    let kl = 0;
    for (let v = 0; v < b.length; v++) kl += Math.exp(b[v]) * (b[v] - a[v]);
    return Math.max(0, kl);
  });
  const same = before.greedy.filter((g, i) => g.length === after.greedy[i].length && g.every((t, j) => t === after.greedy[i][j])).length;
  return { meanKl: kls.reduce((s, x) => s + x, 0) / kls.length, maxKl: Math.max(...kls), sameGreedy: same / before.greedy.length };
}
