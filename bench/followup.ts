// A chat's next turn: time to its first token when the previous answer's KV rows are reused
// (only the answer and the new question are computed) against computing the whole conversation
// again, alternating in one process.
// `node out/bench/followup.js CONVERTED_DIR [first prompt tokens=512] [answer tokens=32] [question tokens=40] [rounds=3] [threads=2]`

import { generateIds, IdGenerateRequest } from '../server/engine/generate';
import { LavinRuntime } from '../server/engine/runtime';
import { syntheticIds } from './shapes';

async function main() {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir) throw new Error('usage: followup.js CONVERTED_DIR [first prompt tokens] [answer tokens] [question tokens] [rounds] [threads]');
  const [promptN, answerN, questionN, rounds, threads] = [512, 32, 40, 3, 2].map((d, i) => Number(rest[i] ?? d));
  const rt = await LavinRuntime.open(dir, { threads });
  const vocab = rt.cfg.llama.vocab;
  const first = [1, ...syntheticIds(promptN - 1, vocab, 1)];
  const request = (promptIds: number[], maxNewTokens: number): IdGenerateRequest => ({ promptIds, modality: 'text', maxNewTokens, stopAtEos: false });
  const rows: { reuse: number[]; fresh: number[] } = { reuse: [], fresh: [] };
  let reusedTokens = 0;
  let followUpTokens = 0;
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 ? (['fresh', 'reuse'] as const) : (['reuse', 'fresh'] as const)) {
      const turn1 = await generateIds(rt, request(first, answerN));
      const followUp = [...first, ...turn1.tokens, ...syntheticIds(questionN, vocab, 2 + r)];
      const t0 = performance.now();
      const turn2 = await generateIds(rt, { ...request(followUp, 1), reuse: mode === 'reuse' ? turn1.promptCache : undefined });
      rows[mode].push(performance.now() - t0);
      if (mode === 'reuse') reusedTokens = turn2.reusedPromptTokens;
      followUpTokens = followUp.length;
    }
  }
  await rt.dispose();
  const best = (xs: number[]) => Math.min(...xs);
  console.log(`${dir}: follow-up of ${followUpTokens} tokens (${promptN}-token first prompt + ${answerN}-token answer + ${questionN}-token question), ${threads} threads, best of ${rounds}`);
  console.log('| follow-up time to first token | ms |');
  console.log('|---|---|');
  console.log(`| whole conversation computed again | ${best(rows.fresh).toFixed(0)} |`);
  console.log(`| previous rows reused (${reusedTokens} tokens) | ${best(rows.reuse).toFixed(0)} |`);
  console.log(`| ratio (fresh / reused) | ${(best(rows.fresh) / best(rows.reuse)).toFixed(2)} |`);
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
