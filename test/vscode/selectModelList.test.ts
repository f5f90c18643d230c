/// <reference types="mocha" />
// Select Model lists the models already on disk (here a synthetic LM Studio folder named by the
// lavin.lmStudioModelsFolder setting) beside its fixed entries, with what each is and whether it fits.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { tempDir, tinyGguf, truncated, write } from '../helpers/modelStores';
import { inWorkbench, pressKeys } from './driver';
import { lavin, waitFor } from './util';

describe('Select Model lists the models on disk', function () {
  let root: string;
  before(async function () {
    await lavin();
    root = tempDir('lavin-lmstudio-');
    write(path.join(root, 'pub', 'Tiny-GGUF', 'Tiny-Q8_0.gguf'), tinyGguf());
    write(path.join(root, 'pub', 'Cut-GGUF', 'Cut.gguf'), truncated(tinyGguf()));
    await vscode.workspace.getConfiguration('lavin').update('lmStudioModelsFolder', root, vscode.ConfigurationTarget.Global);
  });
  after(async function () {
    await vscode.workspace.getConfiguration('lavin').update('lmStudioModelsFolder', undefined, vscode.ConfigurationTarget.Global);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('shows the fixed entries, then each found model with its facts, the broken one with its reason', async function () {
    const run = Promise.resolve(vscode.commands.executeCommand('lavin.selectModel'));
    const listText = () => inWorkbench<string>(`return document.querySelector('.quick-input-widget .quick-input-list')?.textContent ?? '';`);
    const text = await waitFor('discovered models in the picker', () => listText().then((t) => (t.includes('Tiny-Q8_0.gguf') && t.includes('Cut.gguf') ? t : undefined)), 30_000);
    assert.match(text, /Browse for a GGUF file/);
    assert.match(text, /Convert LLaMA \+ CLIP \+ LaVIN adapter/);
    assert.match(text, /pub\/Tiny-GGUF\/Tiny-Q8_0\.gguf.*LM Studio · llama · \d+K · Q8_0/);
    assert.match(text, /fits in memory/);
    assert.match(text, /Cut\.gguf.*cannot be used: .*truncated/);
    await pressKeys(['Escape']);
    assert.strictEqual(await run, undefined, 'Escape picks nothing');
  });
});
