// A model folder with a current converted copy opens from the ONNX files alone: the checkpoint is
// read only when training asks for it (a 7B int4 model must start within 8 GB).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { CONVERTED_FILE, convertModelDir, GRAPH_VERSION, readConverted } from '../../server/engine/convertedCopy';
import { LavinModel } from '../../server/engine/lavinModel';
import { tempDir } from '../helpers/tempDir';

const EMBEDDED = path.resolve(__dirname, '../../../models/lavin-tiny');

test('a converted int8 copy is opened without reading the backbones; loadWeights reads them on demand', async () => {
  const dir = tempDir('lavin-model-');
  fs.cpSync(EMBEDDED, dir, { recursive: true });
  await convertModelDir(dir, 'int8', { kernels: 'fused' });
  const fromCopy = await LavinModel.load(dir, { precision: 'int8', device: 'cpu', threads: 1 });
  // The embedded folder has no converted copy: the same int8 weights, quantised in memory.
  const inMemory = await LavinModel.load(EMBEDDED, { precision: 'int8', device: 'cpu', threads: 1 });
  try {
    assert.equal(fromCopy.weightsLoaded, false, 'the checkpoint was read although a converted copy exists');
    const a = await fromCopy.generate({ prompt: 'Instruction: hello\nResponse:', maxNewTokens: 5, stopAtEos: false });
    assert.equal(a.tokens.length, 5);
    assert.equal(inMemory.weightsLoaded, true);
    const b = await inMemory.generate({ prompt: 'Instruction: hello\nResponse:', maxNewTokens: 5, stopAtEos: false });
    assert.deepEqual(a.tokens, b.tokens, 'the converted copy computes what in-memory quantisation computes');
    assert.equal(fromCopy.info.adapterParameters, inMemory.info.adapterParameters);
    const w = await fromCopy.loadWeights();
    assert.equal(fromCopy.weightsLoaded, true);
    assert.ok(w.tensors.has('layers.0.attention.wq.weight') && w.tensors.has('adapter_modality_embedding.weight'));
  } finally {
    await fromCopy.dispose();
    await inMemory.dispose();
  }
});

test('a stale converted copy (an older converter) is converted again on load, not replaced by quantising in memory', async () => {
  const dir = tempDir('lavin-model-');
  fs.cpSync(EMBEDDED, dir, { recursive: true });
  const converted = await convertModelDir(dir, 'int8', { kernels: 'fused' });
  const file = path.join(converted, CONVERTED_FILE);
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), graphVersion: GRAPH_VERSION - 1 }));
  const stamp = path.join(converted, `${readConverted(converted).files.decoder}.done`);
  fs.writeFileSync(stamp, 'written by an older converter');
  const logs: string[] = [];
  const model = await LavinModel.load(dir, { precision: 'int8', device: 'cpu', threads: 1, log: (m) => logs.push(m) });
  try {
    assert.ok(logs.some((l) => /out of date.*converting it again/.test(l)), logs.join('\n'));
    assert.equal(model.weightsLoaded, false, 'the checkpoint was loaded whole instead of converting again');
    assert.equal(readConverted(converted).graphVersion, GRAPH_VERSION);
    assert.ok(logs.some((l) => l === 'converting: host kept'), 'finished parts are kept');
    assert.ok(logs.some((l) => l === 'converting: decoder written 100%'), logs.join('\n'));
    assert.equal((await model.generate({ prompt: 'Instruction: hello\nResponse:', maxNewTokens: 3, stopAtEos: false })).tokens.length, 3);
  } finally {
    await model.dispose();
  }
});
