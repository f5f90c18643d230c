// Peak memory of converting a Meta-format checkpoint: the whole LLaMA checkpoint loaded first (what
// convertModelDir did before it deferred the linears) against the linear weights read and quantised
// one at a time (openModelDir with deferLinears, what convertModelDir does now), each in a fresh
// process. The LLaMA checkpoint is synthetic (fp16 .pth, the bench's random values) at the shape
// given; CLIP is the fixture's tiny ViT, the adapter random at the matching sizes.
// `node out/bench/convertMemory.js [dim=2048] [layers=8] [ffn=5632] [vocab=32000] [precision=int4]`

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { convertModel, convertModelDir, writeSafetensors } from '../server/engine/convertedCopy';
import { loadModelDir, MANIFEST_FILE } from '../server/engine/modelDir';
import { isAdapterParam } from '../server/engine/programs';
import { WEIGHT_FORMATS, WeightFormat } from '../server/engine/quant';
import { floatsToHalf, HostTensor } from '../server/engine/tensor';
import { loadClip } from '../server/engine/weights';
import { PyTensor, PyValue, torchSave } from '../server/train/pthWriter';
import { parameterShapes, randomValues, SEED } from './shapes';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'test/fixtures/lavin-tiny-ref');

function half(values: Float32Array, shape: number[]): HostTensor {
  return { dtype: 'float16', shape, data: new Uint8Array(floatsToHalf(values).buffer) };
}

async function makeModel(dir: string, dim: number, nLayers: number, ffn: number, vocab: number): Promise<void> {
  if (fs.existsSync(path.join(dir, MANIFEST_FILE))) return;
  fs.mkdirSync(path.join(dir, 'llama'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'clip'), { recursive: true });
  for (const f of ['model.safetensors', 'config.json']) fs.copyFileSync(path.join(FIXTURE, 'clip', f), path.join(dir, 'clip', f));
  const clip = (await loadClip(path.join(dir, 'clip', 'model.safetensors'))).config;
  const nHeads = dim / 128;
  const shapes = parameterShapes({
    llama: { dim, nLayers, nHeads, headDim: 128, ffnHidden: ffn, vocab, normEps: 1e-6, ropeTheta: 10000 },
    clip,
    adapter: { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 },
    maxSeqLen: 512,
  });
  const llama = new Map<string | number, PyValue>();
  const adapterNames: string[] = [];
  const adapter: HostTensor[] = [];
  for (const [name, shape] of shapes) {
    if (isAdapterParam(name)) {
      adapterNames.push(name);
      adapter.push({ dtype: 'float32', shape, data: new Uint8Array(randomValues(SEED, name, shape).buffer) });
    } else if (!name.startsWith('backbone.visual.')) {
      llama.set(name, new PyTensor(half(randomValues(SEED, name, shape), shape)));
    }
  }
  fs.writeFileSync(path.join(dir, 'llama', 'params.json'), JSON.stringify({ dim, multiple_of: 256, n_heads: nHeads, n_layers: nLayers, norm_eps: 1e-6, vocab_size: -1 }));
  const fd = fs.openSync(path.join(dir, 'llama', 'consolidated.00.pth'), 'w');
  for (const chunk of torchSave(llama, 'consolidated')) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  writeSafetensors(path.join(dir, 'adapter.safetensors'), adapterNames, adapter);
  const manifest = { format: 'lavin-code-model', version: 1, name: 'convert-memory', llama: 'llama', clip: 'clip/model.safetensors', adapter: 'adapter.safetensors', maxSeqLen: 512 };
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
}

/** In a child process: one conversion, then its peak RSS (MB) and seconds as JSON on stdout. */
async function child(mode: string, dir: string, weights: WeightFormat): Promise<void> {
  const t0 = performance.now();
  if (mode === 'whole') {
    const w = await loadModelDir(dir);
    await convertModel(w.cfg, w.tensors, fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-convert-whole-')), { weights, source: 'whole' });
  } else {
    await convertModelDir(dir, weights, { force: true });
  }
  process.stdout.write(JSON.stringify({ peakRssMb: process.resourceUsage().maxRSS / 1024, seconds: (performance.now() - t0) / 1000 }));
}

async function main() {
  if (process.argv[2] === '--child') return child(process.argv[3], process.argv[4], process.argv[5] as WeightFormat);
  const [dim, layers, ffn, vocab] = [2048, 8, 5632, 32000].map((d, i) => Number(process.argv[2 + i] ?? d));
  const weights = (process.argv[6] ?? 'int4') as WeightFormat;
  if (!WEIGHT_FORMATS.includes(weights)) throw new Error(`precision must be one of ${WEIGHT_FORMATS.join(', ')}`);
  const dir = path.join(ROOT, 'bench/results/tmp/convert-memory', `d${dim}x${layers}f${ffn}v${vocab}`);
  await makeModel(dir, dim, layers, ffn, vocab);
  const ckptMb = fs.statSync(path.join(dir, 'llama', 'consolidated.00.pth')).size / 1e6;
  const rows: [string, { peakRssMb: number; seconds: number }][] = [];
  for (const mode of ['whole', 'linears one at a time']) {
    const r = spawnSync(process.execPath, [__filename, '--child', mode === 'whole' ? 'whole' : 'deferred', dir, weights], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`${mode}: ${r.stderr}`);
    rows.push([mode, JSON.parse(r.stdout)]);
  }
  console.log(`LLaMA ${dim}x${layers} (FFN ${ffn}, vocab ${vocab}): fp16 checkpoint ${ckptMb.toFixed(0)} MB, converted to ${weights}`);
  console.log('checkpoint read'.padEnd(24) + 'peak RSS MB'.padStart(12) + 'seconds'.padStart(10));
  for (const [mode, r] of rows) console.log(mode.padEnd(24) + r.peakRssMb.toFixed(0).padStart(12) + r.seconds.toFixed(1).padStart(10));
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
