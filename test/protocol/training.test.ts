// Training over the protocol: work-done progress, cancel, resume, chat while training, adapter sets.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import { CancellationTokenSource, ProgressType, WorkDoneProgressCancelNotification } from 'vscode-languageserver-protocol';
import type { WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from 'vscode-languageserver-protocol';
import {
  ActivateAdapterSetRequest, ChatRequest, LavinErrorCodes, ListAdapterSetsRequest, LoadModelRequest, StatusRequest, TrainImageTextNotification, TrainProgressNotification,
  ListAdapterSetsResult, TrainImageTextParams, TrainProgressParams, TrainRequest, TrainResult,
} from '../../server/protocol';
import { rpcError, ServerHandle, startServer } from './serverProcess';

type Progress = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;
const workDone = new ProgressType<Progress>();

const DOCS = `# Installing

Run npm ci and then npm run build to compile the project; the command line is then npx lavin.

# Asking

Use lavin ask with a question in quotes, and add an image to ask about a screenshot or a diagram.

# Training

Use lavin train with a docs folder to fine-tune the adapters on your own documentation pages.
`;

describe('training over the protocol', () => {
  let s: ServerHandle;
  let docs: string;
  const progress = new Map<string, Progress[]>();
  const steps: TrainProgressParams[] = [];
  // vscode-jsonrpc keeps one handler per method: tests add listeners to this one.
  const stepListeners = new Set<(p: TrainProgressParams) => void>();
  const onStep = (f: (p: TrainProgressParams) => void) => {
    stepListeners.add(f);
    return { dispose: () => stepListeners.delete(f) };
  };

  before(async () => {
    s = await startServer();
    docs = path.join(s.workspace, 'docs');
    fs.mkdirSync(docs);
    fs.writeFileSync(path.join(docs, 'guide.md'), DOCS);
    s.connection.onNotification(TrainProgressNotification, (p) => {
      steps.push(p);
      stepListeners.forEach((f) => f(p));
    });
    for (const token of ['t1', 't2', 't3']) {
      progress.set(token, []);
      s.connection.onProgress(workDone, token, (v) => {
        progress.get(token)!.push(v);
      });
    }
    await s.connection.sendRequest(LoadModelRequest, {});
  });
  after(async () => s.stop());

  it('reports work-done progress and per-step loss, and saves an adapter set', async () => {
    const r = (await s.connection.sendRequest(TrainRequest, { docs: 'docs', steps: 3, name: 'guide', workDoneToken: 't1', runId: 'run1' })) as TrainResult;
    assert.equal(r.cancelled, false);
    assert.equal(r.steps, 3);
    assert.equal(r.adapterSet, 'guide');
    assert.ok(r.finalLoss !== null && Number.isFinite(r.finalLoss));
    assert.ok(fs.existsSync(path.join(r.path, 'adapter.json')));
    const mine = steps.filter((p) => p.runId === 'run1');
    assert.deepEqual(mine.map((p) => p.step), [1, 2, 3]);
    for (const p of mine) {
      assert.equal(p.totalSteps, 3);
      assert.ok(Number.isFinite(p.loss) && p.loss > 0);
      assert.ok(p.tokensPerSecond > 0);
      assert.ok(p.etaSeconds !== null && p.etaSeconds >= 0);
    }
    const kinds = progress.get('t1')!.map((v) => v.kind);
    assert.equal(kinds[0], 'begin');
    assert.equal(kinds[kinds.length - 1], 'end');
    const reports = progress.get('t1')!.filter((v): v is WorkDoneProgressReport => v.kind === 'report');
    assert.equal(reports.length, 3);
    assert.match(reports[0].message!, /^step 1\/3 · loss \d+\.\d{3} · ETA (\d+ s|\d+ min \d+ s) · \d+ tokens\/s$/);
    assert.equal(reports[2].percentage, 100);
  });

  it('docs with a screenshot: lavin/trainImageText and work-done reports tell the reading of its text before step 1', async () => {
    const shots = path.join(s.workspace, 'shots');
    fs.mkdirSync(shots);
    fs.copyFileSync(path.join(__dirname, '../../../media/examples/settings-dialog.png'), path.join(shots, 'dialog.png'));
    fs.writeFileSync(path.join(shots, 'guide.md'), '# Connect\n\nThe connect dialog asks for the cluster URL and a token.\n\n![The connect dialog](dialog.png)\n');
    const reading: TrainImageTextParams[] = [];
    let stepsBefore = -1;
    s.connection.onNotification(TrainImageTextNotification, (p) => {
      reading.push(p);
      stepsBefore = steps.filter((q) => q.runId === 'shots').length;
    });
    const r = (await s.connection.sendRequest(TrainRequest, { docs: 'shots', steps: 1, name: 'shots', out: 'shots-set', workDoneToken: 't3', runId: 'shots' })) as TrainResult;
    assert.equal(r.steps, 1);
    assert.equal(r.path, path.join(s.workspace, 'shots-set'), 'kept out of the store the next tests list');
    assert.deepEqual(reading, [{ runId: 'shots', done: 0, total: 1, withText: 0 }, { runId: 'shots', done: 1, total: 1, withText: 1 }]);
    assert.equal(stepsBefore, 0, 'all of it before the first step');
    const messages = progress.get('t3')!.filter((v): v is WorkDoneProgressReport => v.kind === 'report').map((v) => v.message);
    assert.deepEqual(messages.slice(0, 2), ['reading the text of the images: 0/1', 'read the text of 1 image (1 with text)']);
  });

  it('rejects chat while training holds the model, then cancels training and resumes it', async () => {
    let stepsSeen = 0;
    let release!: () => void;
    const twoSteps = new Promise<void>((resolve) => (release = resolve));
    const sub = onStep((p) => {
      if (p.runId === 'run2' && ++stepsSeen === 2) release();
    });
    const running = s.connection.sendRequest(TrainRequest, { docs: 'docs', steps: 500, name: 'long', workDoneToken: 't2', runId: 'run2' });
    await twoSteps;

    const status = await s.connection.sendRequest(StatusRequest);
    assert.equal(status.activity, 'training');
    const busy = await rpcError(s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'hello?' }], maxNewTokens: 2 }));
    assert.equal(busy.code, LavinErrorCodes.Busy);
    assert.match(busy.message, /busy training adapter set long/);

    // The editor's cancel button on the progress notification.
    await s.connection.sendNotification(WorkDoneProgressCancelNotification.type, { token: 't2' });
    const r = (await running) as TrainResult;
    sub.dispose();
    assert.equal(r.cancelled, true);
    assert.ok(r.steps >= 2 && r.steps < 500, `stopped at step ${r.steps}`);
    const end = progress.get('t2')!.at(-1)!;
    assert.equal(end.kind, 'end');
    assert.match((end as WorkDoneProgressEnd).message!, /cancelled at step \d+; resume to continue/);

    // The model is free again.
    const chat = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'hello?' }], maxNewTokens: 2 });
    assert.equal(chat.tokens.length, 2);

    // Resume continues from the saved step, counting steps of the first run.
    const resumed = (await s.connection.sendRequest(TrainRequest, { docs: 'docs', steps: r.steps + 2, name: 'long', resume: true, runId: 'run3' })) as TrainResult;
    assert.equal(resumed.cancelled, false);
    assert.equal(resumed.steps, r.steps + 2);
    assert.deepEqual(steps.filter((p) => p.runId === 'run3').map((p) => p.step), [r.steps + 1, r.steps + 2]);
  });

  it('$/cancelRequest also stops training', async () => {
    const source = new CancellationTokenSource();
    const sub = onStep((p) => {
      if (p.runId === 'run4') source.cancel();
    });
    const r = (await s.connection.sendRequest(TrainRequest, { docs: 'docs', steps: 500, name: 'other', runId: 'run4' }, source.token)) as TrainResult;
    sub.dispose();
    assert.equal(r.cancelled, true);
    assert.ok(r.steps < 500);
  });

  it('lists and activates adapter sets, and answers name the active set', async () => {
    const list = await s.connection.sendRequest(ListAdapterSetsRequest);
    assert.deepEqual(list.sets.map((x) => x.name), ['guide', 'long', 'other']);
    assert.equal(list.active, null);
    assert.equal(list.sets[0].steps, 3);
    assert.equal(list.sets[0].baseModel, 'lavin-tiny');

    const base = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'How do I install?' }], maxNewTokens: 4 });
    const st = await s.connection.sendRequest(ActivateAdapterSetRequest, { name: 'long' });
    assert.equal(st.adapterSet, 'long');
    const tuned = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'How do I install?' }], maxNewTokens: 4 });
    assert.equal(tuned.adapterSet, 'long');
    assert.notDeepEqual(tuned.routerWeights, base.routerWeights, 'trained adapters change the routing');

    const missing = await rpcError(s.connection.sendRequest(ActivateAdapterSetRequest, { name: 'nope' }));
    assert.equal(missing.code, -32602);
    assert.match(missing.message, /no adapter set named "nope"/);

    const back = await s.connection.sendRequest(ActivateAdapterSetRequest, { name: null });
    assert.equal(back.adapterSet, null);
    const again = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'How do I install?' }], maxNewTokens: 4 });
    assert.deepEqual(again.tokens, base.tokens, 'deactivating restores the original adapters');
  });

  it('refuses docs outside the workspace and resume with nothing saved', async () => {
    const outside = await rpcError(s.connection.sendRequest(TrainRequest, { docs: '/usr/share', steps: 1 }));
    assert.equal(outside.code, LavinErrorCodes.PathOutsideWorkspace);
    const nothing = await rpcError(s.connection.sendRequest(TrainRequest, { docs: 'docs', steps: 1, name: 'never-trained', resume: true }));
    assert.match(nothing.message, /nothing to resume/);
    fs.mkdirSync(path.join(s.workspace, 'empty'));
    const empty = await rpcError(s.connection.sendRequest(TrainRequest, { docs: 'empty', steps: 1 }));
    assert.match(empty.message, /no usable sections/);
  });

  it('never replaces a saved set unless overwrite is given', async () => {
    const list = async () => ((await s.connection.sendRequest(ListAdapterSetsRequest)) as ListAdapterSetsResult).sets.find((x) => x.name === 'guide')!;
    const before = await list();
    const refused = await rpcError(s.connection.sendRequest(TrainRequest, { docs: 'docs', steps: 1, name: 'guide' }));
    assert.match(refused.message, /adapter set guide already exists .*\(3 steps, saved /);
    assert.deepEqual(await list(), before, 'the saved set is untouched');
    const replaced = (await s.connection.sendRequest(TrainRequest, { docs: 'docs', steps: 1, name: 'guide', overwrite: true })) as TrainResult;
    assert.equal(replaced.steps, 1);
    assert.equal((await list()).steps, 1);
  });
});
