/// <reference types="mocha" />
// The side panel's "read from image" list in a real VS Code: a question about a screenshot with text
// (the example settings dialog), the list opened under it shows the lines the OCR stage read, in
// order, and focusing one outlines its box on the thumbnail. Screenshot: read-from-image.png, where
// the suite's other pictures go (.cache/screenshots, outside the tree).

import * as assert from 'assert';
import * as path from 'path';
import * as vscode from 'vscode';
import { lavin, waitFor, workspaceFile } from './util';
import { inWebview, screenshot } from './driver';
import type { AnswerEvent } from '../../extension/chat/chatViewProvider';

/** The repo's example screenshot, addressed like the workspace's files (code-server's URI scheme). */
function exampleImage(): vscode.Uri {
  return workspaceFile('images/screenshot.png').with({ path: path.resolve(__dirname, '../../../media/examples/settings-dialog.png') });
}

describe('the "read from image" list in the side panel', function () {
  it('lists the text read from a screenshot under the question, opened, with the line box on the thumbnail', async function () {
    const api = await lavin();
    await waitFor('the backend to run', () => api.backend.state === 'running');
    await vscode.commands.executeCommand('lavin.newChat');
    const done = new Promise<AnswerEvent>((resolve) => {
      const sub = api.chat.onDidFinishAnswer((e) => (sub.dispose(), resolve(e)));
    });
    await vscode.commands.executeCommand('lavin.askAboutImage', exampleImage(), undefined, 'What does this dialog say is wrong?');
    const { turn, result } = await done;
    assert.strictEqual(turn.error, undefined, `no error: ${turn.error}`);
    const read = result?.imageLines?.map((l) => l.text) ?? [];
    for (const expected of ['Cluster URL', 'Token expired 3 days ago. Generate a new one.']) {
      assert.ok(read.includes(expected), `OCR read "${expected}": ${JSON.stringify(read)}`);
    }
    assert.ok(result!.imageText?.includes('Token expired 3 days ago.'), 'the model was given the read text');

    const user = api.chat.turns()[api.chat.turns().length - 2];
    const shown = await inWebview<{ summary: string; lines: string[]; outline: boolean } | null>(`
      const sel = 'article.user[data-id=' + JSON.stringify(${JSON.stringify(user.id)}) + '] details.read-from-image';
      for (let i = 0; i < 100 && !document.querySelector(sel); i++) await new Promise((r) => setTimeout(r, 100));
      const details = document.querySelector(sel);
      if (!details) return null;
      details.querySelector('summary').click();
      await new Promise((r) => setTimeout(r, 100));
      const items = Array.from(details.querySelectorAll('li'));
      const error = items.find((li) => li.textContent.startsWith('Token expired'));
      error?.focus();
      await new Promise((r) => setTimeout(r, 100));
      const box = details.closest('article').querySelector('.read-box');
      return { summary: details.querySelector('summary').textContent, lines: details.open ? items.map((li) => li.textContent) : [], outline: !!box && !box.hidden };`);
    assert.ok(shown, 'the read-from-image list is under the question');
    assert.strictEqual(shown.summary, `Read from image (${read.length} lines)`);
    assert.deepStrictEqual(shown.lines, read, 'the opened list shows every line read, in order');
    assert.ok(shown.outline, 'the focused line is outlined on the thumbnail');
    await screenshot('read-from-image', '.part.sidebar');
  });
});
