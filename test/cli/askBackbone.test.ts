// `lavin ask --model FILE.gguf --raw --temperature 0`: the held-out check's command on a GGUF file
// written here, against llama.cpp (node-llama-cpp 3.21.1, its default settings) on the same file:
// the prompt ids llama.cpp feeds (BOS by the file's rule, then its tokenisation) and the greedy ids.

import * as assert from 'assert/strict';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import { writeLlamaGguf } from '../../bench/gguf';
import { loadNodeLlamaCpp } from '../../bench/llamaCpp';
import { lavin, tempDir } from './runLavin';

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

describe('lavin ask on a GGUF file', () => {
  const file = path.join(tempDir('lavin-gguf-ask-'), 'tiny-q8_0.gguf');
  const PROMPT = 'hello world';
  let reference: { prompt: number[]; tokens: number[] };

  before(async () => {
    let k = 1;
    writeLlamaGguf(file, {
      name: 'cli-tiny', dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnHidden: 512, vocab: 400, normEps: 1e-6, contextLength: 256, type: 'q8_0',
      values: (name, shape) => {
        const r = randn(shape.reduce((a, d) => a * d, 1), k++ * 7919);
        if (name.endsWith('norm.weight')) return r.map((v) => 1 + 0.1 * v);
        return r.map((v) => v * (name === 'tok_embeddings.weight' || name === 'output.weight' ? 0.6 : 0.8 / Math.sqrt(shape[1])));
      },
    });
    const { getLlama, LlamaLogLevel } = await loadNodeLlamaCpp();
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    try {
      // llama.cpp's raw prompt for this file: BOS (tokenizer.ggml.add_bos_token defaults to true for SPM), then the text.
      const prompt = [model.tokens.bos, ...model.tokenize(PROMPT)];
      const context = await model.createContext({ contextSize: 256, threads: 1 });
      const tokens: number[] = [];
      for await (const t of context.getSequence().evaluate(prompt, { temperature: 0 })) {
        tokens.push(t);
        if (tokens.length === 8) break;
      }
      await context.dispose();
      reference = { prompt, tokens };
    } finally {
      await model.dispose();
    }
  });
  after(() => {});

  it('--raw --temperature 0: the prompt llama.cpp feeds and its greedy ids', async () => {
    const r = await lavin(['ask', '--model', file, '--raw', '--temperature', '0', '--max-new-tokens', '8', '--json', PROMPT]);
    assert.equal(r.code, 0, r.stderr);
    const done = r.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.equal(done.promptTokens, reference.prompt.length, 'prompt length as llama.cpp tokenises it');
    assert.deepEqual(done.tokens, reference.tokens, `greedy ids (llama.cpp: ${reference.tokens})`);
    assert.equal(done.route, 'text');
  });

  it('an image question is answered from the text path and says so', async () => {
    const image = path.join(__dirname, '..', '..', '..', 'media', 'examples', 'settings-dialog.png');
    const r = await lavin(['ask', '--model', file, '--raw', '--temperature', '0', '--max-new-tokens', '3', '--json', '--image', image, PROMPT]);
    assert.equal(r.code, 0, r.stderr);
    const done = r.events.at(-1)!;
    assert.match(String(done.visionNote), /no vision adapter set/);
    assert.ok(r.events.some((e) => e.event === 'notice' && /image was not used/.test(String(e.message))));
    assert.deepEqual(done.tokens, reference.tokens.slice(0, 3), 'the same answer as without the image');
  });

  it('a file that is not GGUF gets a one-line error naming it', async () => {
    const bad = path.join(tempDir('lavin-gguf-bad-'), 'notes.txt');
    require('fs').writeFileSync(bad, 'not a model');
    const r = await lavin(['ask', '--model', bad, '--json', 'hi']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /notes\.txt is not a GGUF file/);
  });
});
