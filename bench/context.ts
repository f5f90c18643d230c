// Prefill time and decode step time against context length: prefill N tokens (timed, best of 3),
// then time greedy single-token steps. What the KV cache costs per token of context.
// `node out/bench/context.js CONVERTED_DIR [16,512,1000] [threads=2]`

import { KvCache, LavinRuntime } from '../server/engine/runtime';
import { argmax } from '../server/engine/sampling';
import { syntheticIds } from './shapes';

async function main() {
  const [dir, lengthsArg, threadsArg] = process.argv.slice(2);
  if (!dir) throw new Error('usage: context.js CONVERTED_DIR [contexts=16,512,1000] [threads=2]');
  const rt = await LavinRuntime.open(dir, { threads: Number(threadsArg ?? 2) });
  try {
    const router = await rt.routerTable('text');
    const vocab = rt.cfg.llama.vocab;
    console.log('context  prefill ms  median step ms  min step ms');
    for (const n of (lengthsArg ?? '16,512,1000').split(',').map(Number)) {
      if (n + 9 > rt.cfg.maxSeqLen) throw new Error(`context ${n} + 9 steps exceeds the model's ${rt.cfg.maxSeqLen}`);
      const ids = syntheticIds(n, vocab);
      const prefill = () => rt.step({ embeds: rt.embed(ids), positions: ids.map((_, i) => i + 1), routerWeights: router, cache: KvCache.empty(rt.cfg) });
      let out = await prefill();
      let prefillMs = Infinity;
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        out = await prefill();
        prefillMs = Math.min(prefillMs, performance.now() - t0);
      }
      const ms: number[] = [];
      for (let k = 0; k < 9; k++) {
        const t0 = performance.now();
        out = await rt.step({ embeds: rt.embed([argmax(out.logits)]), positions: [out.cache.length + 1], routerWeights: router, cache: out.cache });
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      console.log(`${String(n).padStart(7)}  ${prefillMs.toFixed(1).padStart(10)}  ${ms[4].toFixed(1).padStart(14)}  ${ms[0].toFixed(1).padStart(11)}`);
    }
  } finally {
    await rt.dispose();
  }
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
