// Docs training on a GGUF backbone through the host's training port (what `lavin train --model
// FILE.gguf --data DOCS` and the Fine-tune command run): the file's quantised blocks are trained
// over as they are, the examples are in the backbone's own prompt format, and the loss falls.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, test } from 'node:test';
import { writeLlamaGguf } from '../../../bench/gguf';
import { LavinModel } from '../../../server/engine/lavinModel';
import { nodeTrainingPort } from '../../../server/host/trainingPort';
import { readMeta } from '../../../server/train/adapterStore';
import { Rng } from '../../../server/train/rng';
import { tempDir } from '../../helpers/tempDir';

const scratch = tempDir('lavin-backbone-docs-');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('docs training on a Q4_0 GGUF backbone (trained over the file\'s blocks): loss falls, a set is saved', async () => {
  const file = path.join(scratch, 'tiny-q4_0.gguf');
  const values = (name: string, shape: number[]) => {
    const rng = new Rng([...name].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 3));
    const n = shape.reduce((a, d) => a * d, 1);
    if (name.endsWith('norm.weight')) return new Float32Array(n).fill(1);
    const std = name.startsWith('tok_embeddings') ? 1 : 1 / Math.sqrt(shape[shape.length - 1]);
    return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * std * Math.sqrt(3));
  };
  writeLlamaGguf(file, { name: 'tiny-q4_0', dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnHidden: 256, vocab: 320, normEps: 1e-5, contextLength: 256, type: 'q4_0', values });
  const docs = path.join(scratch, 'docs');
  fs.mkdirSync(docs);
  fs.writeFileSync(path.join(docs, 'guide.md'), [
    '# Setup', '', 'Install the extension, open the LaVIN panel and choose a model file; the setup script runs once and checks the folder.', '',
    '# Usage', '', 'Pick a docs folder, press Train, and watch the loss fall step by step while the adapters learn the project.',
  ].join('\n'));
  const model = await LavinModel.load(file, { device: 'cpu', threads: 1 });
  try {
    assert.ok(model.info.backbone, 'loaded as a backbone');
    const losses: number[] = [];
    const out = await nodeTrainingPort(path.join(scratch, 'store')).train({
      model, docsDir: docs, name: 'docs-on-gguf', steps: 8, learningRate: 5e-3, resume: false, signal: new AbortController().signal,
      onStep: (s) => losses.push(s.loss),
    });
    assert.equal(out.steps, 8);
    assert.equal(losses.length, 8);
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    const meta = readMeta(out.path);
    assert.equal(meta.step, 8);
    assert.ok(meta.keys.includes('layers.0.adapter_attn.conv_A.weight'));
    // Two examples alternate; compare the mean of the first two steps with the last two.
    const first = (losses[0] + losses[1]) / 2;
    const last = (losses[6] + losses[7]) / 2;
    assert.ok(last < first, `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  } finally {
    await model.dispose();
  }
});
