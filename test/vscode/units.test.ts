/// <reference types="mocha" />
// The extension's pure pieces, run in the extension host because they import vscode.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type * as vscode from 'vscode';
import { describe as describeStatus } from '../../extension/statusBar';
import { toChatMessages } from '../../extension/languageModel';
import { sniffImageType } from '../../extension/imagePicker';
import { ChatHistory } from '../../extension/chat/history';
import { freeName } from '../../extension/commands/fineTune';
import { formatEta } from '../../server/protocolText';
import { checkLlamaFolder, findTokenizer } from '../../extension/commands/selectModel';
import type { StatusResult } from '../../server/protocol';
import { tempDir } from '../helpers/tempDir';

class MemoryMemento implements vscode.Memento {
  readonly store = new Map<string, unknown>();
  keys(): readonly string[] {
    return [...this.store.keys()];
  }
  get<T>(key: string, fallback?: T): T {
    return (this.store.has(key) ? this.store.get(key) : fallback) as T;
  }
  update(key: string, value: unknown): Thenable<void> {
    this.store.set(key, JSON.parse(JSON.stringify(value)));
    return Promise.resolve();
  }
}

const status = (activity: StatusResult['activity'], model = true): StatusResult => ({
  model: model
    ? { name: 'lavin-tiny', dir: '/m', device: 'cpu', precision: 'fp32', llama: { dim: 64, layers: 2, heads: 4, vocab: 32000 }, clip: { width: 48, layers: 24, heads: 4, resolution: 224 }, adapterParameters: 1, maxSeqLen: 512 }
    : null,
  adapterSet: null,
  activity,
  queued: 0,
  memory: { rssBytes: 0, heapUsedBytes: 0, externalBytes: 0 },
  version: '0.1.0',
});

describe('extension units', function () {
  it('status bar text for each backend and model state', function () {
    assert.match(describeStatus('starting', undefined, 0, undefined).text, /starting/);
    assert.match(describeStatus('crashed', undefined, 0, undefined).text, /backend stopped/);
    assert.strictEqual(describeStatus('crashed', undefined, 0, undefined).warn, true);
    assert.match(describeStatus('running', status('idle', false), 0, undefined).text, /LaVIN: idle/);
    assert.match(describeStatus('running', status('idle'), 0, undefined).text, /LaVIN: ready · cpu/, 'the provider that runs the model is in the text');
    assert.match(describeStatus('running', status('loading'), 0, undefined).text, /loading/);
    assert.match(describeStatus('running', status('generating'), 12.34, undefined).text, /generating 12\.3 tok\/s · cpu/);
    const train = { runId: 'r', step: 3, totalSteps: 10, loss: 1, tokensPerSecond: 1, etaSeconds: 5 };
    assert.match(describeStatus('running', status('training'), 0, train).text, /training step 3\/10/);
  });

  it('language model messages: roles, text parts joined, images as base64', function () {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    const out = toChatMessages([
      { role: 1, content: [{ value: 'Look ' }, { value: 'here' }, { mimeType: 'image/png', data: png }] },
      { role: 2, content: [{ value: 'A square.' }] },
      { role: 1, content: [{ value: 'Colour?' }] },
      { role: 1, content: [{ value: 'Be brief.' }, { mimeType: 'text/plain', data: new Uint8Array([1]) }] },
    ]);
    assert.deepStrictEqual(out, [
      { role: 'user', content: 'Look here', images: [Buffer.from(png).toString('base64')] },
      { role: 'assistant', content: 'A square.' },
      { role: 'user', content: 'Colour?\n\nBe brief.' },
    ]);
  });

  it('image type comes from the bytes, not the name', function () {
    const dir = path.resolve(__dirname, '../../../test/data/images/inputs');
    assert.strictEqual(sniffImageType(fs.readFileSync(path.join(dir, 'rgb-150x97.png'))), 'image/png');
    assert.strictEqual(sniffImageType(fs.readFileSync(path.join(dir, 'photo-300x200.jpg'))), 'image/jpeg');
    assert.strictEqual(sniffImageType(fs.readFileSync(path.join(dir, 'lossless-130x77.webp'))), 'image/webp');
    assert.strictEqual(sniffImageType(fs.readFileSync(path.join(dir, 'anim-80x60.gif'))), undefined);
    assert.strictEqual(sniffImageType(new Uint8Array([])), undefined);
  });

  it('chat history persists thumbnails only, keeps image bytes for this session, closes interrupted answers', function () {
    const memento = new MemoryMemento();
    const h = new ChatHistory(memento);
    h.add({ id: 'u', role: 'user', text: 'what?', images: [{ name: 'a.png', mime: 'image/png', data: 'QUJD', thumb: 'data:image/png;base64,eA==' }] });
    h.add({ id: 'a', role: 'assistant', text: '', streaming: true });
    const stored = memento.get<{ images?: { data?: string }[] }[]>('lavin.chat.history', []);
    assert.strictEqual(stored[0].images?.[0].data, undefined, 'no image bytes in workspaceState');
    assert.deepStrictEqual(h.toMessages(), [{ role: 'user', content: 'what?', images: ['QUJD'] }], 'streaming answer left out');
    h.update('a', { text: 'a cat', streaming: false });
    assert.strictEqual(h.toMessages().length, 2);
    // a window reload: the stored history comes back, an answer cut off mid-stream is marked
    h.update('a', { streaming: true });
    const reloaded = new ChatHistory(memento);
    assert.strictEqual(reloaded.get('a')?.streaming, false);
    assert.deepStrictEqual(reloaded.get('a')?.notices, ['Interrupted.']);
    assert.strictEqual(reloaded.toMessages()[0].images, undefined, 'image bytes do not survive a reload');
    reloaded.clear();
    assert.deepStrictEqual(memento.get('lavin.chat.history'), []);
  });

  it('a fine-tune under a taken name is offered the next free one', function () {
    assert.strictEqual(freeName('docs', [{ name: 'docs' }]), 'docs-2');
    assert.strictEqual(freeName('docs-2', [{ name: 'docs' }, { name: 'docs-2' }, { name: 'docs-3' }]), 'docs-4');
  });

  it('ETA and LLaMA folder checks say what is wrong', function () {
    assert.strictEqual(formatEta(null), '…');
    assert.strictEqual(formatEta(42), '42 s');
    assert.strictEqual(formatEta(125), '2 min 5 s');
    assert.strictEqual(formatEta(7380), '2 h 3 min');
    const dir = tempDir('lavin-llama-');
    try {
      assert.deepStrictEqual(checkLlamaFolder(dir), [`${path.join(dir, 'params.json')} is missing`, `no consolidated.NN.pth shards in ${dir}`]);
      fs.writeFileSync(path.join(dir, 'params.json'), '{}');
      fs.writeFileSync(path.join(dir, 'consolidated.00.pth'), '');
      assert.deepStrictEqual(checkLlamaFolder(dir), []);
      assert.strictEqual(findTokenizer(dir), undefined);
      fs.writeFileSync(path.join(dir, 'tokenizer.model'), '');
      assert.strictEqual(findTokenizer(dir), path.join(dir, 'tokenizer.model'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
