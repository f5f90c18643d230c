// A model folder with a current converted copy opens from the ONNX files alone: the checkpoint is
// read only when training asks for it (a 7B int4 model must start within 8 GB).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { convertModelDir } from '../../server/engine/convert';
import { LavinModel } from '../../server/engine/model';

const EMBEDDED = path.resolve(__dirname, '../../../models/lavin-tiny');

test('a converted int8 copy is opened without reading the backbones; loadWeights reads them on demand', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-model-'));
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
