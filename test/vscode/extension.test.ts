/// <reference types="mocha" />
// LaVIN Code in a real VS Code (code-server + Chromium): activation, the side panel answering with
// the embedded model, every command, and the backend surviving a crash.

import * as assert from 'assert';
import * as vscode from 'vscode';
import * as fs from 'fs';
import * as path from 'path';
import { lavin, waitFor, workspaceFile } from './util';
import { inWebview, inWorkbench, pressKeys, screenshot } from './driver';
import type { LavinApi } from '../../extension/extension';
import type { AnswerEvent } from '../../extension/chat/chatViewProvider';
import { tempDir } from '../helpers/tempDir';

const COMMANDS = [
  'lavin.explainSelection',
  'lavin.askAboutImage',
  'lavin.fineTune',
  'lavin.selectModel',
  'lavin.selectAdapterSet',
  'lavin.restartBackend',
  'lavin.showLogs',
  'lavin.newChat',
  'lavin.quickMenu',
];

function nextAnswer(api: LavinApi): Promise<AnswerEvent> {
  return new Promise((resolve) => {
    const sub = api.chat.onDidFinishAnswer((e) => {
      sub.dispose();
      resolve(e);
    });
  });
}

/** The route badge of the newest answer once the webview has drawn it (null if it never does). */
/**
 * The route badge of one answer once the webview has rendered it finished. By the turn's id: the
 * backend's result can arrive before the webview has drawn the new answer, when the last article
 * is still the previous one (a stale badge from an earlier test).
 */
function badgeOf(turnId: string): Promise<string | null> {
  return inWebview<string | null>(`
    for (let i = 0; i < 100; i++) {
      const b = document.querySelector('article.assistant[data-id=' + JSON.stringify(${JSON.stringify(turnId)}) + ']:not(.streaming) .badge');
      if (b) return b.textContent;
      await new Promise((r) => setTimeout(r, 100));
    }
    return null;`);
}

/** Text of the workbench's notification toasts. */
function notificationsText(): Promise<string> {
  return inWorkbench<string>(`return Array.from(document.querySelectorAll('.notification-toast')).map((n) => n.textContent).join(' | ');`);
}

describe('LaVIN Code in VS Code', function () {
  let api: LavinApi;

  before(async function () {
    api = await lavin();
    await waitFor('the backend to run', () => api.backend.state === 'running');
  });

  it('activates: backend running, commands registered, status bar shown, no LM API on 1.100', async function () {
    const all = await vscode.commands.getCommands(true);
    for (const c of COMMANDS) assert.ok(all.includes(c), `${c} is registered`);
    assert.ok(api.backend.pid && api.backend.pid > 0, 'backend process has a pid');
    assert.match(api.statusBar.text, /LaVIN: (idle|ready)/);
    const hasApi = typeof (vscode as unknown as { lm?: { registerLanguageModelChatProvider?: unknown } }).lm?.registerLanguageModelChatProvider === 'function';
    assert.strictEqual(api.languageModelRegistered, hasApi, 'LM provider registered exactly when the API exists');
    const statusBarDom = await waitFor('status bar item in the DOM', () =>
      inWorkbench<string>(`return Array.from(document.querySelectorAll('.statusbar-item')).map((e) => e.textContent).find((t) => t.includes('LaVIN')) || '';`).then((t) => t || undefined),
    );
    assert.match(statusBarDom, /LaVIN/);
  });

  it('answers a question about an image in the side panel (Ask About Image) with the embedded model', async function () {
    const done = nextAnswer(api);
    await vscode.commands.executeCommand('lavin.askAboutImage', workspaceFile('images/screenshot.png'), undefined, 'What is in this image?');
    const { turn, result } = await done;
    assert.strictEqual(turn.error, undefined, `no error: ${turn.error}`);
    assert.ok(result, 'backend returned an answer');
    assert.strictEqual(result!.route, 'image', 'image went to the multimodal path');
    assert.ok(result!.tokens.length > 0, 'some tokens generated');
    assert.strictEqual(turn.text, result!.text);
    assert.strictEqual(result!.routerWeights.length, 2, 'one router pair per LLaMA layer of lavin-tiny');
    const user = api.chat.turns()[api.chat.turns().length - 2];
    assert.strictEqual(user.role, 'user');
    assert.strictEqual(user.images?.[0]?.name, 'screenshot.png');
    // the webview shows the answer with its badge; clicking it draws the router chart
    const badge = await badgeOf(turn.id);
    assert.match(badge ?? '', /^image path · \d+ visual tokens \+ \d+ lines? of text$/, 'the badge says what the model saw');
    assert.strictEqual(await inWebview<number>(`return document.querySelectorAll('article.user details.read-from-image').length;`) >= 1, true, 'the read-from-image list is under the question');
    const thumbs = await inWebview<number>(`return document.querySelectorAll('article.user img.thumb').length;`);
    assert.ok(thumbs >= 1, 'the user turn shows the image thumbnail');
    await screenshot('chat-image-answer', '.part.sidebar');
    const bars = await inWebview<number>(`
      document.querySelector('article.assistant:last-of-type .badge').click();
      await new Promise((r) => setTimeout(r, 100));
      return document.querySelectorAll('article.assistant:last-of-type .router-chart rect.router-e0').length;`);
    assert.strictEqual(bars, 2);
    await screenshot('router-weights', '.part.sidebar');
  });

  it('offers Ask About Image on image files in the explorer context menu, and it answers', async function () {
    await vscode.commands.executeCommand('workbench.view.explorer');
    await vscode.commands.executeCommand('revealInExplorer', workspaceFile('images/screenshot.png'));
    const menu = await waitFor('explorer context menu', async () => {
      const opened = await inWorkbench<boolean>(`
        const row = Array.from(document.querySelectorAll('.explorer-folders-view .monaco-list-row')).find((r) => r.textContent.trim() === 'screenshot.png');
        if (!row) return false;
        row.dispatchEvent(new MouseEvent('contextmenu', { bubbles: true, cancelable: true, button: 2, clientX: 60, clientY: row.getBoundingClientRect().top + 5 }));
        return true;`);
      if (!opened) return undefined;
      await new Promise((r) => setTimeout(r, 300));
      const items = await inWorkbench<string[]>(`return Array.from(document.querySelectorAll('.context-view .action-label, .monaco-menu .action-label')).map((e) => e.textContent.trim()).filter(Boolean);`);
      return items.length ? items : undefined;
    });
    assert.ok(menu.includes('LaVIN: Ask About Image') || menu.includes('Ask About Image'), `menu: ${menu.join(', ')}`);
    await screenshot('explorer-context-menu');
    // choosing it asks for the question (default filled in) and answers in the side panel
    const done = nextAnswer(api);
    await inWorkbench(`
      const item = Array.from(document.querySelectorAll('.context-view .action-label, .monaco-menu .action-label')).find((e) => /Ask About Image/.test(e.textContent));
      item.closest('.action-item, .monaco-menu-item')?.dispatchEvent(new MouseEvent('mouseup', { bubbles: true }));
      item.click();`);
    await waitFor('question input', () =>
      inWorkbench<string>(`return document.querySelector('.quick-input-widget .quick-input-title')?.textContent ?? '';`).then((t) => (/Ask about screenshot\.png/.test(t) ? t : undefined)),
    );
    await pressKeys(['Enter']);
    const { turn, result } = await done;
    assert.strictEqual(turn.error, undefined);
    assert.strictEqual(result?.route, 'image');
    assert.strictEqual(api.chat.turns()[api.chat.turns().length - 2].text, 'What is in this image?');
    // a non-image file does not get the item
    await vscode.commands.executeCommand('revealInExplorer', workspaceFile('src/sum.ts'));
    const other = await waitFor('context menu on sum.ts', async () => {
      await inWorkbench(`
        const row = Array.from(document.querySelectorAll('.explorer-folders-view .monaco-list-row')).find((r) => r.textContent.trim() === 'sum.ts');
        row?.dispatchEvent(new MouseEvent('contextmenu', { bubbles: true, cancelable: true, button: 2, clientX: 60, clientY: row.getBoundingClientRect().top + 5 }));`);
      await new Promise((r) => setTimeout(r, 300));
      const items = await inWorkbench<string[]>(`return Array.from(document.querySelectorAll('.context-view .action-label, .monaco-menu .action-label')).map((e) => e.textContent.trim()).filter(Boolean);`);
      return items.length ? items : undefined;
    });
    assert.ok(!other.some((i) => /Ask About Image/.test(i)), `no image item for sum.ts: ${other.join(', ')}`);
    await pressKeys(['Escape']);
    await vscode.commands.executeCommand('lavin.chatView.focus');
  });

  it('takes an image pasted into the webview (synthetic paste) and answers on the image path', async function () {
    const png = (await vscode.workspace.fs.readFile(workspaceFile('images/screenshot.png'))).slice();
    const b64 = Buffer.from(png).toString('base64');
    const done = nextAnswer(api);
    const attached = await inWebview<number>(`
      const bytes = Uint8Array.from(atob(${JSON.stringify(b64)}), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
      const input = document.getElementById('input');
      input.focus();
      input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      for (let i = 0; i < 50 && !document.querySelector('#attachments .attachment'); i++) await new Promise((r) => setTimeout(r, 100));
      const n = document.querySelectorAll('#attachments .attachment').length;
      input.value = 'Describe the colours.';
      document.getElementById('send').click();
      return n;`);
    assert.strictEqual(attached, 1);
    const { turn, result } = await done;
    assert.strictEqual(turn.error, undefined, `no error: ${turn.error}`);
    assert.strictEqual(result?.route, 'image');
    const user = api.chat.turns()[api.chat.turns().length - 2];
    assert.strictEqual(user.text, 'Describe the colours.');
    assert.strictEqual(user.images?.[0]?.name, 'pasted.png');
  });

  it('explains the selection in the side panel with the file language (text path)', async function () {
    // The README picture: this question and its answer alone, no leftover notifications.
    await vscode.commands.executeCommand('lavin.newChat');
    await vscode.commands.executeCommand('notifications.clearAll');
    const doc = await vscode.workspace.openTextDocument(workspaceFile('src/sum.ts'));
    const editor = await vscode.window.showTextDocument(doc);
    editor.selection = new vscode.Selection(1, 0, 5, 1);
    const done = nextAnswer(api);
    await vscode.commands.executeCommand('lavin.explainSelection');
    const { turn, result } = await done;
    assert.strictEqual(turn.error, undefined, `no error: ${turn.error}`);
    assert.strictEqual(result?.route, 'text', 'no image: text path');
    const user = api.chat.turns()[api.chat.turns().length - 2];
    assert.strictEqual(user.label, 'src/sum.ts:2-6');
    assert.match(user.text, /typescript/);
    const badge = await badgeOf(turn.id);
    assert.strictEqual(badge, 'text path');
    await screenshot('explain-selection');
  });

  it('Stop ends a long answer early and keeps the partial text', async function () {
    const config = vscode.workspace.getConfiguration('lavin');
    const previous = config.inspect<number>('maxNewTokens')?.workspaceValue;
    await config.update('maxNewTokens', 400, vscode.ConfigurationTarget.Workspace);
    try {
      const done = nextAnswer(api);
      await inWebview(`
        const input = document.getElementById('input');
        input.value = 'Tell me a long story.';
        document.getElementById('send').click();`);
      // the status bar reports the decode speed while tokens stream
      const generating = await waitFor('status bar tok/s', () => (/generating \d+(\.\d)? tok\/s/.test(api.statusBar.text) ? api.statusBar.text : undefined), 30_000);
      const stopped = await inWebview<boolean>(`
        for (let i = 0; i < 300; i++) {
          const body = document.querySelector('article.assistant:last-of-type.streaming .body');
          if (body && body.textContent.length > 0) { document.getElementById('stop').click(); return true; }
          await new Promise((r) => setTimeout(r, 10));
        }
        return false;`);
      assert.match(generating, /LaVIN: generating/);
      const { turn, result } = await done;
      assert.ok(stopped, 'clicked Stop while tokens were streaming');
      const generated = result ? result.tokens.length : undefined;
      assert.ok(result ? result.stopReason === 'aborted' : turn.notices?.includes('Stopped.'), `stopped: ${JSON.stringify(turn.stats)}`);
      assert.ok(generated === undefined || generated < 400, `fewer than 400 tokens (${generated})`);
      assert.strictEqual(turn.error, undefined);
    } finally {
      await config.update('maxNewTokens', previous, vscode.ConfigurationTarget.Workspace);
    }
  });

  it('shows the quick menu from the status bar command and the model in Select Model', async function () {
    void vscode.commands.executeCommand('lavin.quickMenu');
    const items = await waitFor('quick pick items', () =>
      inWorkbench<string>(`return document.querySelector('.quick-input-widget .quick-input-list')?.textContent ?? '';`).then((t) => (t.includes('Restart Backend') ? t : undefined)),
    );
    assert.match(items, /Select Model/);
    assert.match(items, /Show Logs/);
    await pressKeys(['Escape']);
    // Select Model with a folder loads it; a folder without model.json is refused by name.
    const status = (await vscode.commands.executeCommand('lavin.selectModel', { folder: api.backend.embeddedModelDir() })) as { model: { name: string } };
    assert.strictEqual(status.model.name, 'lavin-tiny');
    await assert.rejects(
      Promise.resolve(vscode.commands.executeCommand('lavin.selectModel', { folder: workspaceFile('docs').fsPath })),
      /docs has no model\.json/,
    );
    await waitFor('status bar says ready', () => (/LaVIN: ready/.test(api.statusBar.text) ? true : undefined));
    await screenshot('status-bar', '.part.statusbar');
  });

  it('Select Model walks through LLaMA + CLIP + adapter files in the file dialogs and converts once', async function () {
    // the original checkpoints (golden fixture set) in their usual layout: <dir>/llama/{params.json,
    // consolidated.00.pth}, tokenizer.model beside it, CLIP with its config.json (the tiny ViT's head count)
    const fixture = path.resolve(__dirname, '../../../test/fixtures/lavin-tiny-ref');
    const dir = tempDir('lavin-weights-');
    fs.cpSync(path.join(fixture, 'llama'), path.join(dir, 'llama'), { recursive: true });
    fs.copyFileSync(path.join(api.backend.embeddedModelDir(), 'tokenizer.model'), path.join(dir, 'tokenizer.model'));
    fs.mkdirSync(path.join(dir, 'clip'));
    fs.copyFileSync(path.join(fixture, 'clip/visual.pth'), path.join(dir, 'clip/clip-visual.pth'));
    fs.copyFileSync(path.join(fixture, 'clip/config.json'), path.join(dir, 'clip/config.json'));
    fs.copyFileSync(path.join(fixture, 'adapter/checkpoint.pth'), path.join(dir, 'lavin-adapter.pth'));
    const picker = () => inWorkbench<string>(`return document.querySelector('.quick-input-widget')?.style.display !== 'none' ? (document.querySelector('.quick-input-widget .quick-input-title')?.textContent ?? '') : '';`);
    const dialogValue = () => inWorkbench<string>(`return document.querySelector('.quick-input-widget .quick-input-box input')?.value ?? '';`);
    /** Types a path into VS Code's own (simple) file dialog and accepts it with Enter. */
    const answerDialog = async (title: RegExp, target: string) => {
      await waitFor(`dialog ${title}`, () => picker().then((t) => (title.test(t) ? t : undefined)), 20_000).catch(async (err) => {
        await screenshot('debug-dialog');
        throw err;
      });
      // Typing races the dialog's own completion of the path it is listing (a CI run saw the
      // value never match in 10 s): select all and type again, up to three times.
      for (let attempt = 1; ; attempt++) {
        await pressKeys(['Control+a'], target);
        const typed = await waitFor(`dialog value ${target}`, () => dialogValue().then((v) => (v === target ? v : undefined)), 5_000).then(() => true, () => false);
        if (typed) break;
        if (attempt === 3) throw new Error(`the dialog did not take ${target} in 3 tries (value: ${await dialogValue()})`);
      }
      await new Promise((r) => setTimeout(r, 300));
      await pressKeys(['Enter']);
      const closed = () => picker().then((t) => (title.test(t) ? undefined : true));
      const first = await waitFor(`dialog ${title} to close`, closed, 5_000).catch(() => false);
      if (!first && title.test(await picker())) {
        // a folder typed in full: that Enter opened it ("…/llama/"); the next one picks it.
        // (A busy dialog can also drop an Enter while it lists the folder.)
        const value = await dialogValue();
        assert.ok(value === target || value === `${target}/`, `the dialog still holds the path (value: ${value})`);
        await pressKeys(['Enter']);
        await waitFor(`dialog ${title} to close`, closed, 10_000);
      }
    };
    try {
      const run = Promise.resolve(vscode.commands.executeCommand('lavin.selectModel')) as Promise<{ model: { name: string; dir: string } } | undefined>;
      await waitFor('Select Model picker', () => picker().then((t) => (/Select Model/.test(t) ? t : undefined)));
      await pressKeys([], 'Convert');
      await pressKeys(['Enter']);
      await answerDialog(/Step 1\/4/, path.join(dir, 'llama'));
      await answerDialog(/Step 2\/4/, path.join(dir, 'clip/clip-visual.pth'));
      await answerDialog(/Step 3\/4/, path.join(dir, 'lavin-adapter.pth'));
      await waitFor('precision picker', () => picker().then((t) => (/Step 4\/4/.test(t) ? t : undefined)), 20_000).catch(async (err) => {
        await screenshot('debug-dialog');
        throw err;
      });
      await pressKeys([], 'fp32');
      await pressKeys(['Enter']);
      const status = await run;
      assert.ok(status?.model, `a model is loaded after the conversion; notifications: ${await notificationsText()}`);
      assert.strictEqual(status!.model.name, 'llama-lavin-fp32');
      const folder = vscode.workspace.getConfiguration('lavin').get<string>('modelFolder');
      assert.ok(folder && fs.existsSync(path.join(folder, 'model.json')), `lavin.modelFolder points at the converted folder (${folder})`);
      const done = nextAnswer(api);
      await api.chat.send('Hello?', []);
      assert.strictEqual((await done).turn.error, undefined, 'the converted model answers');
    } finally {
      await vscode.workspace.getConfiguration('lavin').update('modelFolder', undefined, vscode.ConfigurationTarget.Global);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reloads the model when lavin.precision changes (fp32, then fp16)', async function () {
    const config = vscode.workspace.getConfiguration('lavin');
    const previous = config.inspect<string>('precision')?.workspaceValue;
    const activities: string[] = [];
    const sub = api.backend.onDidChangeStatus((st) => activities.push(st.activity));
    try {
      await config.update('precision', 'fp32', vscode.ConfigurationTarget.Workspace);
      await waitFor('a reload in fp32', () => (activities.includes('loading') && api.backend.lastStatus?.activity === 'idle' ? true : undefined));
      assert.strictEqual(api.backend.lastStatus?.model?.precision, 'fp32');
      await config.update('precision', 'fp16', vscode.ConfigurationTarget.Workspace);
      await waitFor('a reload in fp16', () => (api.backend.lastStatus?.model?.precision === 'fp16' && api.backend.lastStatus?.activity === 'idle' ? true : undefined));
    } finally {
      sub.dispose();
      await config.update('precision', previous, vscode.ConfigurationTarget.Workspace);
    }
  });

  it('lists adapter sets in Select Adapter Set', async function () {
    void vscode.commands.executeCommand('lavin.selectAdapterSet');
    const items = await waitFor('adapter set picker', () =>
      inWorkbench<string>(`return document.querySelector('.quick-input-widget .quick-input-list')?.textContent ?? '';`).then((t) => (t.includes("Model's own adapters") ? t : undefined)),
    );
    assert.match(items, /Model's own adapters/);
    await pressKeys(['Escape']);
  });

  it('fine-tunes on a docs folder with step/loss/ETA progress, Cancel keeps a named set, activate and roll back', async function () {
    const docs = workspaceFile('docs').fsPath;
    // The picture shows the training notification alone (earlier ones, e.g. a model path, would stack over it).
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('lavin.newChat');
    const progress: string[] = [];
    let clickedCancel = false;
    const sub = api.backend.onTrainProgress((p) => progress.push(`${p.step}/${p.totalSteps}`));
    try {
      const run = Promise.resolve(
        vscode.commands.executeCommand('lavin.fineTune', { docs, name: 'test-docs', steps: 200, skipPreview: true }),
      ) as Promise<{ adapterSet: string; cancelled: boolean; steps: number; path: string }>;
      // the progress notification shows step, loss and ETA; its Cancel button stops the run
      const toast = await waitFor('training progress notification', () =>
        notificationsText().then((t) => (/training "test-docs".*step \d+\/200 · loss \d+\.\d+ · ETA/.test(t) ? t : undefined)),
      );
      await screenshot('fine-tune-progress');
      assert.match(api.statusBar.text, /LaVIN: training step \d+\/200/);
      clickedCancel = await inWorkbench<boolean>(`
        const toast = Array.from(document.querySelectorAll('.notification-toast')).find((n) => n.textContent.includes('training "test-docs"'));
        const cancel = toast && Array.from(toast.querySelectorAll('.monaco-button, a.action-label')).find((b) => /cancel/i.test(b.textContent + ' ' + (b.getAttribute('aria-label') || '')));
        if (!cancel) return false;
        cancel.click();
        return true;`);
      assert.ok(clickedCancel, `found the notification's Cancel button in: ${toast}`);
      const result = await run;
      assert.strictEqual(result.adapterSet, 'test-docs');
      assert.strictEqual(result.cancelled, true, 'Cancel stopped the run');
      assert.ok(result.steps >= 1 && result.steps < 200, `kept the checkpoint at step ${result.steps}`);
      assert.ok(progress.length >= 1, 'progress notifications arrived');
    } finally {
      sub.dispose();
    }
    // A second run under the same name never silently replaces the saved set.
    await assert.rejects(
      Promise.resolve(vscode.commands.executeCommand('lavin.fineTune', { docs, name: 'test-docs', steps: 1, skipPreview: true })),
      /adapter set test-docs already exists/,
    );
    await vscode.commands.executeCommand('notifications.clearAll');
    // the new set is listed; pick it, then roll back from the notice
    void vscode.commands.executeCommand('lavin.selectAdapterSet');
    await waitFor('test-docs in the adapter set picker', () =>
      inWorkbench<string>(`return document.querySelector('.quick-input-widget .quick-input-list')?.textContent ?? '';`).then((t) => (t.includes('test-docs') ? t : undefined)),
    );
    await pressKeys([], 'test-docs');
    await pressKeys(['Enter']);
    await waitFor('test-docs active', () => (api.backend.lastStatus?.adapterSet === 'test-docs' ? true : undefined));
    const done = nextAnswer(api);
    await api.chat.send('What is a widget?', []);
    const answer = await done;
    assert.strictEqual(answer.result?.adapterSet, 'test-docs', 'answers use the fine-tuned set');
    // The notice may have left the screen while the answer ran (a toast hides after a while on a busy
    // machine): then it is in the notification center, with the same button.
    const rolledBack = await waitFor('Roll Back button', async () => {
      const clicked = await inWorkbench<boolean>(`
        const notice = Array.from(document.querySelectorAll('.notification-toast, .notifications-center .notification-list-item')).find((n) => n.textContent.includes('now uses test-docs'));
        const b = notice && Array.from(notice.querySelectorAll('.monaco-button')).find((x) => x.textContent.includes('Roll Back'));
        if (!b) return undefined;
        b.click();
        return true;`);
      if (!clicked) await vscode.commands.executeCommand('notifications.showList');
      return clicked;
    });
    assert.ok(rolledBack);
    await waitFor("back on the model's own adapters", () => (api.backend.lastStatus?.adapterSet === null ? true : undefined));
  });

  it('Restart Backend starts a new backend process', async function () {
    const before = api.backend.pid;
    await vscode.commands.executeCommand('lavin.restartBackend');
    await waitFor('backend running again', () => api.backend.state === 'running');
    assert.notStrictEqual(api.backend.pid, before);
  });

  it('restarts the backend after a crash, with a visible notice, and answers again', async function () {
    const victim = api.backend.pid!;
    const states: string[] = [];
    const sub = api.backend.onDidChangeState((s) => states.push(s));
    process.kill(victim, 'SIGKILL');
    await waitFor('a new backend process', () => (api.backend.state === 'running' && api.backend.pid !== victim ? true : undefined));
    sub.dispose();
    assert.ok(states.includes('crashed'), `went through crashed: ${states.join(' > ')}`);
    // The notice is a toast; a toast can be hidden (e.g. behind others under load), but every
    // notification is listed in the notification center, so look there too.
    const toast = await waitFor('crash notice', async () => {
      const t = await notificationsText();
      if (t.includes('stopped unexpectedly')) return t;
      await vscode.commands.executeCommand('notifications.showList');
      const listed = await inWorkbench<string>(`return Array.from(document.querySelectorAll('.notifications-center .notification-list-item')).map((n) => n.textContent).join(' | ');`);
      return listed.includes('stopped unexpectedly') ? listed : undefined;
    });
    await vscode.commands.executeCommand('notifications.hideList');
    assert.match(toast, /LaVIN backend stopped unexpectedly and is being restarted/);
    await vscode.commands.executeCommand('lavin.newChat'); // no earlier image in the conversation
    const done = nextAnswer(api);
    await api.chat.send('Still there?', []);
    const { turn, result } = await done;
    assert.strictEqual(turn.error, undefined, `answered after the restart: ${turn.error}`);
    assert.strictEqual(result?.route, 'text');
  });

  it('Show Logs opens the LaVIN output channel with its log lines', async function () {
    await vscode.commands.executeCommand('lavin.showLogs');
    const shown = await waitFor('LaVIN output in the panel', () =>
      inWorkbench<{ channel: string; text: string }>(`
        const select = document.querySelector('.part.panel select.monaco-select-box');
        const channel = select ? select.options[select.selectedIndex]?.text ?? '' : '';
        // Monaco draws spaces as no-break spaces
        const text = (document.querySelector('.part.panel .view-lines')?.textContent ?? '').replace(/\\u00a0/g, ' ');
        return { channel, text };`).then((r) => (r.channel === 'LaVIN' && /\[(info|warning|error)\]/.test(r.text) ? r : undefined)),
    );
    assert.strictEqual(shown.channel, 'LaVIN');
  });

  it('New Chat clears the conversation (kept per workspace until then)', async function () {
    assert.ok(api.chat.turns().length > 0);
    // The workbench picture as a user sees it after a question: no crash-test notices over it, no log panel.
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('workbench.action.closePanel');
    await new Promise((r) => setTimeout(r, 500)); // the toasts fade out
    await screenshot('workbench');
    await vscode.commands.executeCommand('lavin.newChat');
    assert.strictEqual(api.chat.turns().length, 0);
    const articles = await inWebview<number>(`await new Promise((r) => setTimeout(r, 100)); return document.querySelectorAll('article').length;`);
    assert.strictEqual(articles, 0);
  });
});
