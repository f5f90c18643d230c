// Start-up of a converted int8/int4 model: the decoder opened from its source ONNX (onnxruntime
// repacks every weight) against its checked packed copy (server/engine/packedWeights.ts), taking
// turns in one process; then the text router table (one decoder pass of the modality token).
// `node out/bench/load.js CONVERTED_DIR [rounds=3] [threads=2]`
// Without a current copy, the first open writes and checks one (timed and reported apart).

import { LavinRuntime } from '../server/engine/runtime';

async function timedOpen(dir: string, threads: number, packed: 'use' | 'ignore' | 'write'): Promise<{ ms: number; file: string; tableMs: number }> {
  const t0 = performance.now();
  const rt = await LavinRuntime.open(dir, { threads }, { packed, log: (m) => process.stderr.write(`  ${m}\n`) });
  const ms = performance.now() - t0;
  const t1 = performance.now();
  await rt.routerTable('text');
  const tableMs = performance.now() - t1;
  const file = rt.decoderFile ?? '(in memory)';
  await rt.dispose();
  return { ms, file, tableMs };
}

async function main() {
  const [dir, roundsArg, threadsArg] = process.argv.slice(2);
  if (!dir) throw new Error('usage: load.js CONVERTED_DIR [rounds=3] [threads=2]');
  const rounds = Number(roundsArg ?? 3);
  const threads = Number(threadsArg ?? 2);
  const first = await timedOpen(dir, threads, 'write');
  console.log(`first open with packed: 'write': ${first.ms.toFixed(0)} ms (${first.file})`);
  const times: Record<'use' | 'ignore', number[]> = { use: [], ignore: [] };
  const tables: number[] = [];
  const files: Record<string, string> = {};
  for (let r = 0; r < rounds; r++) {
    for (const mode of (r % 2 ? ['ignore', 'use'] : ['use', 'ignore']) as ('use' | 'ignore')[]) {
      const t = await timedOpen(dir, threads, mode);
      times[mode].push(t.ms);
      tables.push(t.tableMs);
      files[mode] = t.file;
    }
  }
  const median = (a: number[]) => a.slice().sort((p, q) => p - q)[a.length >> 1];
  console.log(`${rounds} rounds, ${threads} threads, median ms to open the decoder (host tensors included):`);
  console.log(`  source decoder  ${median(times.ignore).toFixed(0).padStart(7)}  ${files.ignore}`);
  console.log(`  packed copy     ${median(times.use).toFixed(0).padStart(7)}  ${files.use}${files.use === files.ignore ? '  (no usable copy: the source again)' : ''}`);
  console.log(`  ratio           ${(median(times.ignore) / median(times.use)).toFixed(2).padStart(7)}`);
  console.log(`text router table (one pass), median ms: ${median(tables).toFixed(0)}`);
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
