// Memory and time of opening a GGUF backbone (weights/backbone.ts openBackbone): writes a synthetic
// random-weight file per type, then opens it in a fresh process and reports the peak RSS against the
// file size and the node baseline. Usage:
//   node out/bench/ggufOpen.js [dim] [layers] [types, comma-separated: q4_0,q8_0,q4_k_m]
// Files are kept in .cache/bench-gguf-open/ (delete them when done).

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { openBackbone } from '../server/engine/weights/backbone';
import { Q4_K_M_MIX, writeLlamaGguf, type GgufType } from './gguf';

const MIB = 1024 * 1024;

async function child(file: string): Promise<void> {
  const base = process.resourceUsage().maxRSS * 1024;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const bb = await openBackbone(file);
  const openS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  let held = 0;
  for (const t of bb.tensors.values()) held += t.data.byteLength;
  for (const q of bb.quantized.values()) held += q.packed.data.byteLength + q.scales.data.byteLength + q.zeroPoints.data.byteLength + (q.offsets?.data.byteLength ?? 0);
  const rows = bb.embeddingRows([0, 1, 2, 3]);
  bb.close();
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`RESULT ${JSON.stringify({ base, peak, held, openS, cpuS, rows: rows.length })}\n`);
}

function main(): void {
  const dim = Number(process.argv[2] ?? 2048);
  const layers = Number(process.argv[3] ?? 4);
  const kinds = (process.argv[4] ?? 'q4_0,q8_0,q4_k_m').split(',');
  const dir = path.resolve(__dirname, '..', '..', '.cache', 'bench-gguf-open');
  fs.mkdirSync(dir, { recursive: true });
  const rows: string[] = [];
  for (const kind of kinds) {
    const file = path.join(dir, `d${dim}-l${layers}-${kind}.gguf`);
    if (!fs.existsSync(file)) {
      const type = (kind === 'q4_k_m' ? 'q4_k' : kind) as GgufType;
      let seed = 1;
      writeLlamaGguf(file, {
        name: `open-${kind}`, dim, nLayers: layers, nHeads: dim / 64, nKvHeads: dim / 256, ffnHidden: Math.round((dim * 2.75) / 256) * 256, vocab: 32000,
        normEps: 1e-5, contextLength: 4096, type, typeOf: kind === 'q4_k_m' ? Q4_K_M_MIX : undefined, fileType: kind === 'q4_k_m' ? 15 : undefined,
        values: (_name, shape) => { const n = shape.reduce((a, b) => a * b, 1); const out = new Float32Array(n); let s = seed++ * 2654435761; for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = (s / 4294967296 - 0.5) * 0.1; } return out; },
      });
    }
    const r = spawnSync(process.execPath, [__filename, '--child', file], { encoding: 'utf8' });
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`child failed: ${r.stderr.slice(-2000)}`);
    const m = JSON.parse(line.slice(7)) as { base: number; peak: number; held: number; openS: number; cpuS: number };
    const size = fs.statSync(file).size;
    rows.push(`| ${kind} | ${(size / MIB).toFixed(0)} | ${(m.held / MIB).toFixed(0)} | ${(m.peak / MIB).toFixed(0)} | ${((m.peak - m.base) / MIB).toFixed(0)} | ${((m.peak - m.base) / size).toFixed(2)} | ${m.openS.toFixed(2)} | ${m.cpuS.toFixed(2)} |`);
  }
  process.stdout.write(`dim ${dim}, ${layers} layers, vocab 32000\n\n| file | size MiB | held MiB | peak RSS MiB | peak - node baseline MiB | (peak - baseline) / size | open s | open CPU s |\n|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
}

if (process.argv[2] === '--child') void child(process.argv[3]);
else main();
