/// <reference types="mocha" />
// "LaVIN: Train Vision Adapters..." in a real VS Code, driven through the UI: the command palette,
// the folder dialog, the name box, the preview (sample count, skipped with reasons), the progress
// notification's Cancel, Resume from the stopped run's notice, Activate, Roll Back. The data is
// rendered at test time (one synthetic image and a record whose image is missing) into the test's
// throwaway copy of the workspace. Then a set goes out to one .safetensors file and back in.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { lavin, waitFor, workspaceFile } from './util';
import { inWorkbench, pressKeys, screenshot } from './driver';
import type { LavinApi } from '../../extension/extension';
import { ListAdapterSetsRequest } from '../../server/protocol';
import { writeSyntheticSet } from '../../server/train/data/synthetic';
import { tempDir } from '../helpers/tempDir';

const SET = 'test-vision';

/** Title of the open quick input ('' when none). */
function quickInputTitle(): Promise<string> {
  return inWorkbench<string>(`return document.querySelector('.quick-input-widget')?.style.display !== 'none' ? (document.querySelector('.quick-input-widget .quick-input-title')?.textContent ?? '') : '';`);
}

function quickInputValue(): Promise<string> {
  return inWorkbench<string>(`return document.querySelector('.quick-input-widget .quick-input-box input')?.value ?? '';`);
}

/** Replaces the quick input's text with `value` (retrying: a file dialog may rewrite it while it lists a folder). */
async function typeIntoQuickInput(value: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await pressKeys(['Control+a'], value);
    const ok = await waitFor(`quick input value ${value}`, () => quickInputValue().then((v) => (v === value ? v : undefined)), 5_000).then(() => true, () => false);
    if (ok) return;
    if (attempt === 3) throw new Error(`the quick input did not take ${value} in 3 tries (value: ${await quickInputValue()})`);
  }
}

/** Text of the notification toasts and of the notification center. */
function notificationsText(): Promise<string> {
  return inWorkbench<string>(`return Array.from(document.querySelectorAll('.notification-toast, .notifications-center .notification-list-item')).map((n) => n.textContent).join(' | ');`);
}

/** Clicks `button` on the notification whose text matches `text` (opening the center when the toast has gone). */
async function clickNotificationButton(text: string, button: string): Promise<void> {
  await waitFor(`"${button}" on the notice "${text}"`, async () => {
    const clicked = await inWorkbench<boolean>(`
      const notice = Array.from(document.querySelectorAll('.notification-toast, .notifications-center .notification-list-item')).find((n) => n.textContent.includes(${JSON.stringify(text)}));
      const b = notice && Array.from(notice.querySelectorAll('.monaco-button')).find((x) => x.textContent.trim() === ${JSON.stringify(button)});
      if (!b) return false;
      b.click();
      return true;`);
    if (!clicked) await vscode.commands.executeCommand('notifications.showList');
    return clicked || undefined;
  });
}

/** Waits for a notification matching `re`, in a toast or (when toasts have gone, or the center is open) in the notification center. */
function waitForNotice(what: string, re: RegExp, timeoutMs = 60_000): Promise<string> {
  let probes = 0;
  return waitFor(what, async () => {
    const t = await notificationsText();
    if (re.test(t)) return t;
    if (++probes % 20 === 0) await vscode.commands.executeCommand('notifications.showList');
    return undefined;
  }, timeoutMs);
}

describe('LaVIN: Train Vision Adapters from the command palette', function () {
  let api: LavinApi;
  let data: string;

  before(async function () {
    api = await lavin();
    await waitFor('the backend to run', () => api.backend.state === 'running');
    // One rendered image with a colour question, and one record whose image is missing (skipped, with the reason).
    const root = workspaceFile('vision-data').fsPath;
    fs.rmSync(root, { recursive: true, force: true });
    await writeSyntheticSet(root, { trainSize: 1, testSize: 0, questions: ['colour'], size: 32 });
    data = path.join(root, 'train');
    const records = JSON.parse(fs.readFileSync(path.join(data, 'data.json'), 'utf8')) as unknown[];
    records.push({ id: 'lost', image: 'images/lost.png', conversations: [{ from: 'human', value: '<image>\nWhat colour is it?' }, { from: 'gpt', value: 'red' }] });
    fs.writeFileSync(path.join(data, 'data.json'), JSON.stringify(records));
  });

  it('previews the data, trains with progress, Cancel keeps a checkpoint, Resume finishes it, Activate uses it, Roll Back', async function () {
    // The resumed run trains to the end: 30 steps of the tiny model (1 sample, 30 epochs; no text anchors for a fresh set), 30-60 s on a busy 2-core machine.
    this.timeout(360_000);
    await vscode.commands.executeCommand('notifications.clearAll');
    const steps: { step: number; total: number }[] = [];
    const sub = api.backend.onTrainProgress((p) => steps.push({ step: p.step, total: p.totalSteps }));
    try {
      // The command palette.
      await pressKeys(['F1']);
      await waitFor('command palette', () => quickInputValue().then((v) => (v.startsWith('>') ? v : undefined)));
      await pressKeys([], 'LaVIN: Train Vision Adapters');
      await waitFor('the command in the palette', () =>
        inWorkbench<string>(`return document.querySelector('.quick-input-widget .quick-input-list')?.textContent ?? '';`).then((t) => (t.includes('Train Vision Adapters...') ? t : undefined)));
      await pressKeys(['Enter']);

      // VS Code's own folder dialog: type the data folder, Enter (a folder typed in full may need a second Enter to pick it).
      await waitFor('the data folder dialog', () => quickInputTitle().then((t) => (/image-question data folder/.test(t) ? t : undefined)), 20_000);
      await typeIntoQuickInput(data);
      await new Promise((r) => setTimeout(r, 300));
      await pressKeys(['Enter']);
      const nameBox = () => quickInputTitle().then((t) => (/name of the vision adapter set/.test(t) ? t : undefined));
      if (!(await waitFor('the name box', nameBox, 5_000).catch(() => undefined))) {
        await pressKeys(['Enter']);
        await waitFor('the name box', nameBox, 10_000);
      }
      assert.strictEqual(await quickInputValue(), 'train', 'the name defaults to the folder name');
      await typeIntoQuickInput(SET);
      await pressKeys(['Enter']);

      // The preview (a quick pick): sample count, examples, what was skipped with the reason; Start Training is first.
      const title = await waitFor('the preview', () => quickInputTitle().then((t) => (/^Train vision adapters/.test(t) ? t : undefined)), 60_000);
      assert.match(title, /Train vision adapters on 1 sample from 2 LLaVA records \(1 skipped\) in train as adapter set "test-vision"\?/);
      const list = await inWorkbench<string>(`return Array.from(document.querySelectorAll('.quick-input-widget .quick-input-list .monaco-list-row')).map((r) => r.textContent).join(' | ');`);
      assert.match(list, /Start Training/);
      assert.match(list, /What colour is the shape\? Answer with one word\.→ \w+ · images\/train-00000\.png/);
      assert.match(list, /data\.json#2 \(id lost\)image images\/lost\.png does not exist/);
      await screenshot('train-vision-preview');
      await pressKeys(['Enter']);

      // Progress with step, loss and ETA; Cancel stops the run.
      const toast = await waitFor('the training progress notification', () =>
        notificationsText().then((t) => (/training vision adapters "test-vision".*step \d+\/\d+ · loss \d+\.\d+ · ETA/.test(t) ? t : undefined)), 120_000);
      await screenshot('train-vision-progress');
      const cancelled = await inWorkbench<boolean>(`
        const toast = Array.from(document.querySelectorAll('.notification-toast')).find((n) => n.textContent.includes('training vision adapters "test-vision"'));
        const cancel = toast && Array.from(toast.querySelectorAll('.monaco-button, a.action-label')).find((b) => /cancel/i.test(b.textContent + ' ' + (b.getAttribute('aria-label') || '')));
        if (!cancel) return false;
        cancel.click();
        return true;`);
      assert.ok(cancelled, `found the notification's Cancel button in: ${toast}`);
      const stoppedRe = /vision adapter set "test-vision" stopped at step (\d+) on 1 sample, 1 skipped; the last checkpoint was saved/;
      const stopped = stoppedRe.exec(await waitForNotice('the stopped notice', stoppedRe, 120_000))!;
      const stoppedAt = Number(stopped[1]);
      const total = steps[0].total;
      assert.ok(stoppedAt >= 1 && stoppedAt < total, `stopped at step ${stoppedAt} of ${total}`);
      const saved = (await api.backend.request0(ListAdapterSetsRequest)).sets.find((s) => s.name === SET);
      assert.ok(saved && saved.steps === stoppedAt && saved.kind === 'vision', `the checkpoint is listed: ${JSON.stringify(saved)}`);

      // Resume from the notice: it continues after the checkpoint and runs to the end.
      const before = steps.length;
      await clickNotificationButton(`"${SET}" stopped at step`, 'Resume');
      const finishedRe = /vision adapter set "test-vision" trained on 1 sample, 1 skipped \((\d+) steps, final loss \d+\.\d+\)/;
      const finished = finishedRe.exec(await waitForNotice('the finished notice', finishedRe, 300_000))!;
      assert.strictEqual(Number(finished[1]), total, 'the resumed run finished all steps');
      const resumed = steps.slice(before);
      assert.ok(resumed.length > 0 && resumed[0].step === stoppedAt + 1, `the resumed run started after the checkpoint (first step ${resumed[0]?.step}, checkpoint ${stoppedAt})`);

      // Activate from the notice; answers use the set; Roll Back returns to the model's own adapters.
      await clickNotificationButton(`"${SET}" trained on`, 'Activate');
      await waitFor(`${SET} active`, () => (api.backend.lastStatus?.adapterSet === SET ? true : undefined));
      const answered = new Promise<string | null | undefined>((resolve) => {
        const s = api.chat.onDidFinishAnswer((e) => {
          s.dispose();
          resolve(e.result?.adapterSet);
        });
      });
      await api.chat.send('What colour is the shape?', []);
      assert.strictEqual(await answered, SET, 'answers use the vision set');
      await clickNotificationButton(`now uses ${SET}`, 'Roll Back');
      await waitFor("back on the model's own adapters", () => (api.backend.lastStatus?.adapterSet === null ? true : undefined));
    } finally {
      sub.dispose();
      await pressKeys(['Escape']).catch(() => undefined);
    }
  });

  it('exports the set to one .safetensors file and imports it under another name', async function () {
    const file = path.join(tempDir('lavin-export-'), `${SET}.safetensors`);
    const exported = (await vscode.commands.executeCommand('lavin.exportAdapterSet', { name: SET, file })) as { kind: string; fingerprinted: boolean } | undefined;
    assert.ok(exported, `exported; notifications: ${await notificationsText()}`);
    assert.strictEqual(exported.kind, 'vision');
    assert.strictEqual(exported.fingerprinted, true);
    const imported = (await vscode.commands.executeCommand('lavin.importAdapterSet', { file, name: `${SET}-copy` })) as { name: string; kind: string } | undefined;
    assert.deepStrictEqual(imported && { name: imported.name, kind: imported.kind }, { name: `${SET}-copy`, kind: 'vision' });
    // The same file again under the same name is refused, and says why.
    await vscode.commands.executeCommand('notifications.clearAll');
    assert.strictEqual(await vscode.commands.executeCommand('lavin.importAdapterSet', { file, name: `${SET}-copy` }), undefined);
    await waitForNotice('the refusal', /an adapter set named "test-vision-copy" already exists/);
    await vscode.commands.executeCommand('notifications.hideList');
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});
