// Where a GGUF backbone's memory goes, stage by stage, in one fresh process per file: resident set
// (RSS), its peak so far (VmHWM) and the JS side (ArrayBuffers, heap) after opening the file,
// creating the decoder session, a garbage collection, the warm-up, a 512-token prompt and decode
// steps: the breakdown behind the same-file bench's peak_rss_mb row. Usage:
//   node --expose-gc out/bench/ggufMemory.js FILE.gguf [FILE.gguf ...] [--threads 2] [--prompt 512]

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { backboneRuntime } from '../server/engine/backboneModel';
import { KvCache } from '../server/engine/runtime';
import { argmax } from '../server/engine/sampling';
import { openBackbone } from '../server/engine/weights/backbone';

const MIB = 1024 * 1024;

function status(): { rss: number; hwm: number } {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function child(file: string, threads: number, promptLength: number): Promise<void> {
  const rows: string[] = [];
  const mark = (stage: string) => {
    const { rss, hwm } = status();
    const m = process.memoryUsage();
    rows.push(`| ${stage} | ${rss.toFixed(0)} | ${hwm.toFixed(0)} | ${(m.arrayBuffers / MIB).toFixed(0)} | ${(m.heapUsed / MIB).toFixed(0)} |`);
  };
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  mark('node + onnxruntime loaded');
  const rt = await backboneRuntime(await openBackbone(file).finally(() => mark('file opened (openBackbone)')), { threads }, 'fused');
  mark('decoder session created');
  gc();
  mark('after a garbage collection');
  const router = await rt.routerTable('text');
  mark('router table (first run)');
  const ids = Array.from({ length: promptLength }, (_, i) => 3 + ((i * 7919) % (rt.cfg.llama.vocab - 3)));
  let out = (await rt.prefill({ embeds: rt.embed([1, ...ids]), positions: [0, ...ids.map((_, i) => i + 1)], routerWeights: router, cache: KvCache.empty(rt.cfg) }))!;
  mark(`${promptLength}-token prompt`);
  for (let k = 0; k < 16; k++) {
    const t = argmax(out.logits);
    out = await rt.step({ embeds: rt.embed([t]), positions: [out.cache.length], routerWeights: router, cache: out.cache });
  }
  mark('16 decode steps');
  await rt.dispose();
  process.stdout.write(`RESULT ${JSON.stringify(rows)}\n`);
}

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: number) => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const v = Number(args[i + 1]);
    args.splice(i, 2);
    return v;
  };
  const threads = opt('--threads', 2);
  const prompt = opt('--prompt', 512);
  for (const file of args) {
    const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', file, String(threads), String(prompt)], { encoding: 'utf8' });
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`child failed for ${file}: ${r.stderr.slice(-2000)}`);
    const size = fs.statSync(file).size;
    process.stdout.write(`\n${file} (${(size / MIB).toFixed(0)} MiB)\n\n| stage | RSS MiB | peak RSS so far MiB | ArrayBuffers MiB | JS heap MiB |\n|---|---|---|---|---|\n${(JSON.parse(line.slice(7)) as string[]).join('\n')}\n`);
  }
}

if (process.argv[2] === '--child') void child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
else main();
