// Where our decode (or prefill) time goes: onnxruntime's per-node profile of greedy decode steps,
// or of prompts of N tokens, summed by operator type.
// `node out/bench/profile.js CONVERTED_DIR [steps] [threads] [prefill tokens: 0 = profile decode]`

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KvCache, LavinRuntime } from '../server/engine/runtime';
import { argmax } from '../server/engine/sampling';
import { syntheticIds } from './shapes';

interface ProfileEvent { cat: string; name: string; dur: number; args?: { op_name?: string } }

async function main() {
  const [dir, stepsArg, threadsArg, prefillArg] = process.argv.slice(2);
  if (!dir) throw new Error('usage: profile.js CONVERTED_DIR [steps=64] [threads=2] [prefill tokens=0]');
  const steps = Number(stepsArg ?? 64);
  const prefill = Number(prefillArg ?? 0);
  const prefix = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-profile-')), 'decoder');
  const rt = await LavinRuntime.open(dir, { threads: Number(threadsArg ?? 2), profilePrefix: prefix });
  const router = await rt.routerTable('text');
  let out = await rt.step({ embeds: rt.embed([1]), positions: [1], routerWeights: router, cache: KvCache.empty(rt.cfg) });
  const t0 = performance.now();
  const prompt = syntheticIds(prefill, rt.cfg.llama.vocab);
  for (let k = 0; k < steps; k++) {
    if (prefill) await rt.step({ embeds: rt.embed(prompt), positions: prompt.map((_, i) => i + 1), routerWeights: router, cache: KvCache.empty(rt.cfg) });
    else out = await rt.step({ embeds: rt.embed([argmax(out.logits)]), positions: [out.cache.length + 1], routerWeights: router, cache: out.cache });
  }
  const wallMs = performance.now() - t0;
  await rt.dispose();
  const files = fs.readdirSync(path.dirname(prefix)).filter((f) => f.endsWith('.json')).map((f) => path.join(path.dirname(prefix), f));
  const byOp = new Map<string, number>();
  let runUs = 0;
  let runs = 0;
  for (const f of files) {
    const events = JSON.parse(fs.readFileSync(f, 'utf8')) as ProfileEvent[];
    if (!events.some((e) => e.args?.op_name === 'MatMul' || e.args?.op_name === 'MatMulNBits')) continue; // the decoder's profile only
    for (const e of events) {
      if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name) byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur);
      if (e.cat === 'Session' && e.name === 'model_run') { runUs += e.dur; runs++; }
    }
  }
  // The profile covers the router-table steps and the first step too: report per model_run (for
  // prefill, read the per-run figures with that in mind: the small runs dilute the average).
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  console.log(`${steps} ${prefill ? `prefills of ${prefill} tokens` : 'decode steps'}: ${(wallMs / steps).toFixed(2)} ms per step (wall, JS included); ${runs} profiled runs, ${(runUs / runs / 1000).toFixed(2)} ms per run inside onnxruntime`);
  console.log(`kernel time by operator (share of ${(total / runs / 1000).toFixed(2)} ms per run):`);
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1])) console.log(`  ${op.padEnd(34)} ${(us / runs / 1000).toFixed(3).padStart(8)} ms  ${((100 * us) / total).toFixed(1).padStart(5)}%`);
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
