// `lavin models`: the table for people and the one JSON line, over synthetic stores named by flags.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import { hfRepo, OllamaStore, tempDir, tinyGguf, write } from '../helpers/modelStores';
import { lavin } from './runLavin';

describe('lavin models', () => {
  let root: string;
  let flags: string[];
  before(() => {
    root = tempDir('lavin-stores-');
    const store = new OllamaStore(path.join(root, 'ollama'));
    store.model('tiny:latest', tinyGguf());
    const gone = store.model('gone:latest', Buffer.concat([tinyGguf(), Buffer.from('gone')]));
    fs.rmSync(gone.model);
    write(path.join(root, 'lmstudio', 'pub', 'Tiny-GGUF', 'Tiny-Q8_0.gguf'), tinyGguf());
    hfRepo(path.join(root, 'hf'), 'org/nothing', { 'config.json': '{ broken' });
    flags = ['--ollama', path.join(root, 'ollama'), '--lmstudio', path.join(root, 'lmstudio'), '--hf-cache', path.join(root, 'hf')];
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('--json prints one models event with every model, usable or not', async () => {
    const r = await lavin(['models', '--json', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.events.length, 1);
    const e = r.events[0] as { event: string; models: { name: string; problem?: string; quantization?: string }[]; searched: unknown[] };
    assert.equal(e.event, 'models');
    assert.deepEqual(e.models.map((m) => m.name).sort(), ['gone:latest', 'org/nothing', 'pub/Tiny-GGUF/Tiny-Q8_0.gguf', 'tiny:latest']);
    assert.equal(e.models.find((m) => m.name === 'tiny:latest')!.quantization, 'Q8_0');
    assert.match(e.models.find((m) => m.name === 'gone:latest')!.problem!, /is missing/);
    assert.equal(e.searched.length, 3);
  });

  it('prints a table, then the models that cannot be used with their reasons', async () => {
    const r = await lavin(['models', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0], /^NAME\s+SOURCE\s+ARCH\s+PARAMS\s+QUANT\s+SIZE\s+MEMORY\s+PATH/);
    assert.ok(lines.some((l) => /^tiny:latest\s+ollama\s+llama\s+\d+K\s+Q8_0\s/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^pub\/Tiny-GGUF\/Tiny-Q8_0\.gguf\s+lmstudio\s+llama/.test(l)), r.stdout);
    assert.ok(lines.includes('Cannot be used:'));
    assert.ok(lines.some((l) => /^ {2}gone:latest \(ollama, llama\): model blob sha256-\w+ is missing/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^ {2}org\/nothing \(huggingface\): .*config\.json is not valid JSON/.test(l)), r.stdout);
  });

  it('--help describes the JSON line; a bad flag exits 2', async () => {
    const help = await lavin(['models', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /\{"event":"models","models":\[\.\.\.\]/);
    const bad = await lavin(['models', '--bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown option '--bogus'/);
  });
});
