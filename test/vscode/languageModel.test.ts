/// <reference types="mocha" />
// LaVIN as a VS Code language model (VS Code 1.104+). On older VS Code this suite is skipped: the
// activation test checks that the extension then registers nothing.

import * as assert from 'assert';
import * as vscode from 'vscode';
import { lavin, waitFor, workspaceFile } from './util';

interface DataPartCtor {
  image(data: Uint8Array, mime: string): unknown;
}

describe('LaVIN language model provider', function () {
  before(function () {
    const lm = (vscode as unknown as { lm?: { registerLanguageModelChatProvider?: unknown } }).lm;
    if (typeof lm?.registerLanguageModelChatProvider !== 'function') this.skip();
  });

  it('is listed for vendor "lavin" with image input, and answers a question about an image', async function () {
    const api = await lavin();
    assert.ok(api.languageModelRegistered);
    await waitFor('backend running', () => api.backend.state === 'running');
    const models = await waitFor('the LaVIN chat model', async () => {
      const found = await vscode.lm.selectChatModels({ vendor: 'lavin' });
      return found.length ? found : undefined;
    }, 30_000);
    const model = models[0];
    assert.strictEqual(model.family, 'lavin');
    assert.ok(model.maxInputTokens > 0);
    const DataPart = (vscode as unknown as { LanguageModelDataPart?: DataPartCtor }).LanguageModelDataPart;
    assert.ok(DataPart, 'VS Code 1.104+ has LanguageModelDataPart');
    const png = await vscode.workspace.fs.readFile(workspaceFile('images/screenshot.png'));
    const message = vscode.LanguageModelChatMessage.User([new vscode.LanguageModelTextPart('What is in this image?'), DataPart!.image(png, 'image/png')] as never);
    const streamed: string[] = [];
    const tokens: { route?: string }[] = [];
    const sub = api.backend.onToken(() => tokens.push({}));
    try {
      const response = await model.sendRequest([message], {}, new vscode.CancellationTokenSource().token);
      for await (const chunk of response.text) streamed.push(chunk);
    } finally {
      sub.dispose();
    }
    assert.ok(streamed.length > 0, 'text streamed back');
    assert.ok(tokens.length > 0, 'the backend generated tokens');
    const last = api.languageModel?.lastAnswer;
    assert.strictEqual(last?.route, 'image', `the image part went to the multimodal path: ${JSON.stringify({ ...last, routerWeights: undefined, tokens: undefined })}`);
    assert.strictEqual(streamed.join(''), api.languageModel?.lastAnswer?.text);
  });
});
