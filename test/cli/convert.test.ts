// `lavin convert`: official-format files -> a model folder that loads and answers; and its errors.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { describe, it } from 'node:test';
import { FIXTURE, lavin, REPO, tempDir } from './runLavin';

const TOKENIZER = path.join(REPO, 'test', 'data', 'tokenizer', 'tokenizer.model');
const official = ['--llama', path.join(FIXTURE, 'llama'), '--clip', path.join(FIXTURE, 'clip', 'visual.pth'), '--adapter', path.join(FIXTURE, 'adapter', 'checkpoint.pth'), '--tokenizer', TOKENIZER];

describe('lavin convert', () => {
  it('writes a model folder referencing the files, validated by loading, usable with --model', async () => {
    const out = path.join(tempDir('lavin-conv-'), 'tiny');
    const r = await lavin(['convert', '--json', ...official, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const saved = r.events.at(-1)!;
    assert.equal(saved.event, 'saved');
    assert.equal(saved.path, out);
    assert.ok(r.events.some((e) => e.event === 'progress' && e.percentage === 100));
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
    assert.equal(manifest.format, 'lavin-code-model');
    assert.equal(manifest.clipHeads, 4, 'heads from the config.json beside the CLIP file');
    assert.equal(manifest.llama, path.join(FIXTURE, 'llama'));

    const ask = await lavin(['ask', '--json', '--model', out, '--max-new-tokens', '3', 'hi']);
    assert.equal(ask.code, 0, ask.stderr);
    const embedded = await lavin(['ask', '--json', '--max-new-tokens', '3', 'hi']);
    assert.deepEqual(ask.events.at(-1)!.tokens, embedded.events.at(-1)!.tokens, 'same weights as the embedded model, same answer');
  });

  it('--copy copies the weights into the folder, with progress for people', async () => {
    const out = path.join(tempDir('lavin-conv-'), 'copied');
    const r = await lavin(['convert', ...official, '--copy', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /convert 100%/);
    assert.match(r.stderr, /model folder .* is ready/);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
    assert.equal(manifest.llama, 'llama');
    assert.ok(fs.existsSync(path.join(out, 'llama', 'consolidated.00.pth')));
    assert.ok(fs.existsSync(path.join(out, 'tokenizer.model')));
  });

  it('converts to int8 once: model.json records the precision and the quantised copy is opened', async () => {
    const out = path.join(tempDir('lavin-conv-'), 'q8');
    const r = await lavin(['convert', '--json', ...official, '--precision', 'int8', '--out', out]);
    assert.equal(r.code, 0, JSON.stringify(r.events.at(-1)));
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')).precision, 'int8');
    assert.ok(fs.readdirSync(path.join(out, 'converted')).some((d) => d.startsWith('int8')), 'no converted int8 copy');
    const ask = await lavin(['ask', '--json', '--verbose', '--model', out, '--max-new-tokens', '3', 'hello']);
    assert.equal(ask.code, 0, ask.stderr);
    assert.equal((ask.events.at(-1)!.tokens as number[]).length, 3);
  });

  it('refuses a precision it does not know', async () => {
    const r = await lavin(['convert', '--json', ...official, '--precision', 'int3', '--out', path.join(tempDir('lavin-conv-'), 'q')]);
    assert.equal(r.code, 2);
    assert.match(String(r.events.at(-1)!.message), /--precision must be fp32, fp16, int8 or int4/);
  });

  it('names missing or mismatched inputs and leaves no broken model.json', async () => {
    const out = path.join(tempDir('lavin-conv-'), 'bad');
    const noLlama = await lavin(['convert', '--json', ...official.slice(2), '--llama', '/no/llama', '--out', out]);
    assert.equal(noLlama.code, 1);
    assert.match(String(noLlama.events.at(-1)!.message), /LLaMA folder \/no\/llama does not exist/);
    // A CLIP file that is not CLIP weights: the folder fails validation by loading.
    const wrong = await lavin(['convert', '--json', ...official.slice(0, 2), '--clip', TOKENIZER, ...official.slice(4), '--out', out]);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.events.at(-1)!.event, 'error');
    assert.match(String(wrong.events.at(-1)!.message), /do not make a working model/);
    assert.ok(!fs.existsSync(path.join(out, 'model.json')));
  });
});
