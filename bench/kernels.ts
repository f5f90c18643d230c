// Decode-shaped linear kernels in isolation: one token through L LLaMA blocks' linears (no attention),
// weight formats and layouts (KERNEL_VARIANTS) in one process, alternating, so the machine's noise hits
// all of them alike. `node out/bench/kernels.js [dim=2048] [ffn=5632] [layers=6] [rounds=30] [threads=2] [tokens=1]`

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { Builder } from '../server/engine/graph/builder';
import { Graph, Value } from '../server/engine/graph/graph';
import { quantizeWeight } from '../server/engine/quant';
import { createSessionFromFile } from '../server/engine/session';
import { externalBytes, serializeModel } from '../server/engine/graph/onnx';
import { HostTensor } from '../server/engine/tensor';

interface Variant { name: string; bits: 4 | 8; block: number; level: number; fused: boolean; dynamic?: boolean; noZeroPoint?: boolean }

/** Symmetric per-output-channel int8 W^T [K, N] and its scales [N], for DynamicQuantizeMatMul. */
function perChannelInt8(w: HostTensor): { q: HostTensor; scales: HostTensor } {
  const [n, k] = w.shape;
  const src = new Float32Array(w.data.buffer, w.data.byteOffset, n * k);
  const q = new Int8Array(k * n);
  const scales = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let m = 0;
    for (let c = 0; c < k; c++) m = Math.max(m, Math.abs(src[r * k + c]));
    const scale = m / 127 || 1;
    scales[r] = scale;
    for (let c = 0; c < k; c++) q[c * n + r] = Math.round(src[r * k + c] / scale);
  }
  return { q: { dtype: 'int8', shape: [k, n], data: new Uint8Array(q.buffer) }, scales: { dtype: 'float32', shape: [n], data: new Uint8Array(scales.buffer) } };
}

function randomWeight(n: number, k: number, seed: number): HostTensor {
  const a = new Float32Array(n * k);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296 - 0.5) * 0.04;
  }
  return { dtype: 'float32', shape: [n, k], data: new Uint8Array(a.buffer) };
}

function buildGraph(v: Variant, tokens: number, dim: number, ffn: number, layers: number, weights: (name: string, n: number, k: number) => HostTensor): Graph {
  const g = new Graph(`kernels_${v.name}`);
  const b = new Builder(g);
  const lin = (x: Value, name: string, parts: [string, number][], k: number): Value[] => {
    const n = parts.reduce((a, [, pn]) => a + pn, 0);
    const w = weights(name, n, k);
    const y = v.dynamic ? dynamicMatMul(x, name, w) : nBitsMatMul(x, name, w);
    if (parts.length === 1) return [y];
    const sizes = b.constInt64(parts.map(([, pn]) => pn));
    return b.op('Split', [y, sizes], parts.map(([, pn]) => ({ dtype: 'float32' as const, shape: [1, tokens, pn] })), { axis: { i: -1 } });
  };
  const dynamicMatMul = (x: Value, name: string, w: HostTensor): Value => {
    const pc = perChannelInt8(w);
    return b.op('DynamicQuantizeMatMul', [x, b.initializer(`${name}.q`, pc.q), b.initializer(`${name}.s`, pc.scales)], [{ dtype: 'float32', shape: [1, tokens, w.shape[0]] }], {}, 'com.microsoft')[0];
  };
  const nBitsMatMul = (x: Value, name: string, w: HostTensor): Value => {
    const [n, k] = w.shape;
    const q = quantizeWeight(w, v.bits, name, v.block);
    const packed = b.initializer(`${name}.q`, q.packed);
    const scales = b.initializer(`${name}.s`, q.scales);
    return b.op('MatMulNBits', [x, packed, scales, v.noZeroPoint ? undefined : b.initializer(`${name}.zp`, q.zeroPoints)], [{ dtype: 'float32', shape: [1, tokens, n] }], {
      K: { i: k }, N: { i: n }, bits: { i: v.bits }, block_size: { i: q.blockSize }, accuracy_level: { i: v.level },
    }, 'com.microsoft')[0];
  };
  let x = b.input('x', 'float32', [1, tokens, dim]);
  for (let l = 0; l < layers; l++) {
    const p = `l${l}`;
    const [q, k, vv] = v.fused
      ? lin(x, `${p}.qkv`, [['q', dim], ['k', dim], ['v', dim]], dim)
      : [lin(x, `${p}.q`, [['q', dim]], dim)[0], lin(x, `${p}.k`, [['k', dim]], dim)[0], lin(x, `${p}.v`, [['v', dim]], dim)[0]];
    const o = lin(b.add(b.add(q, k), vv), `${p}.o`, [['o', dim]], dim)[0];
    const [g1, g3] = v.fused
      ? lin(o, `${p}.w13`, [['w1', ffn], ['w3', ffn]], dim)
      : [lin(o, `${p}.w1`, [['w1', ffn]], dim)[0], lin(o, `${p}.w3`, [['w3', ffn]], dim)[0]];
    x = lin(b.mul(g1, g3), `${p}.w2`, [['w2', dim]], ffn)[0];
  }
  b.output(x, 'y');
  return g;
}

async function main() {
  const [dim, ffn, layers, rounds, threads, tokens] = [2048, 5632, 6, 30, 2, 1].map((d, i) => Number(process.argv[2 + i] ?? d));
  // Variants: "int4/b128", "int8/b32/fused" (QKV and W1/W3 as one matmul each), "int4/b32/L1" (accuracy level 1),
  // "int4/b128/sym" (no zero-point input: times the symmetric kernel; its numbers are not the weights').
  const spec = (process.env.KERNEL_VARIANTS ?? 'int4/b32,int4/b64,int4/b128,int4/b256,int4/b128/fused,int8/b32,int8/b128').split(',');
  const variants: Variant[] = spec.map((s) => {
    // "int8/dq": DynamicQuantizeMatMul over per-channel int8 weights (activations quantised per call).
    if (s === 'int8/dq') return { name: s, bits: 8, block: 1 << 30, level: 0, fused: false, dynamic: true };
    const [fmt, block, ...flags] = s.split('/');
    const level = flags.find((f) => /^L\d$/.test(f));
    return { name: s, bits: fmt === 'int8' ? 8 : 4, block: Number(block.slice(1)), level: level ? Number(level.slice(1)) : 4, fused: flags.includes('fused'), noZeroPoint: flags.includes('sym') };
  });
  const seedOf = (s: string) => [...s].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7);
  // One session alive at a time (idle sessions' spinning worker threads would slow the timed one);
  // the variants take turns, `passes` times, `rounds` runs each turn.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-kernels-'));
  const files = variants.map((v, i) => {
    const file = path.join(dir, `v${i}.onnx`);
    const { model, external } = serializeModel(buildGraph(v, tokens, dim, ffn, layers, (name, n, k) => randomWeight(n, k, seedOf(name))), { externalThreshold: 1 << 20, externalFile: `v${i}.onnx.data` });
    fs.writeFileSync(file, model);
    if (external) fs.writeFileSync(`${file}.data`, externalBytes(external));
    return file;
  });
  const x = new ort.Tensor('float32', Float32Array.from({ length: tokens * dim }, (_, i) => Math.sin(i)), [1, tokens, dim]);
  const times = variants.map(() => [] as number[]);
  const passes = 3;
  for (let pass = 0; pass < passes; pass++) {
    for (let i = 0; i < variants.length; i++) {
      const session = await createSessionFromFile(files[i], { threads });
      for (let r = 0; r < 2 + Math.ceil(rounds / passes); r++) {
        const t0 = performance.now();
        await session.run({ x });
        if (r >= 2) times[i].push(performance.now() - t0);
      }
      await session.release();
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const median = (a: number[]) => a.slice().sort((p, q) => p - q)[a.length >> 1];
  const base = median(times[0]);
  const perLayerParams = 4 * dim * dim + 3 * dim * ffn;
  console.log(`dim ${dim} ffn ${ffn} x ${layers} layers, M=${tokens}, ${threads} threads, ${rounds} rounds`);
  console.log('variant'.padEnd(24) + 'median ms'.padStart(10) + 'vs first'.padStart(10) + 'GB/s'.padStart(8));
  for (let i = 0; i < variants.length; i++) {
    const v = variants[i];
    const bytes = perLayerParams * layers * (v.bits / 8 + 4 / v.block + v.bits / 8 / v.block);
    const m = median(times[i]);
    console.log(v.name.padEnd(24) + m.toFixed(2).padStart(10) + (base / m).toFixed(2).padStart(10) + (bytes / m / 1e6).toFixed(1).padStart(8));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
