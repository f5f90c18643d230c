// lavin/previewVisionData, lavin/exportAdapterSet and lavin/importAdapterSet over the protocol:
// the data dry run's counts and reasons, the workspace boundary, a set's round trip through one
// file, and the refusals. Needs no model.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import {
  ExportAdapterSetRequest, ExportAdapterSetResult, ImportAdapterSetRequest, ImportAdapterSetResult, LavinErrorCodes, ListAdapterSetsRequest,
  ListAdapterSetsResult, PreviewVisionDataRequest, PreviewVisionDataResult,
} from '../../server/protocol';
import { importLavinPth, saveAdapterSet } from '../../server/train/adapterStore';
import { FIXTURE_DIR } from '../golden/fixture';
import { FIXTURE_IMAGE, rpcError, ServerHandle, startServer, tempDir } from './serverProcess';

/** data.json: 2 usable records (one with two answers), a missing image, a record without an answer. */
function writeData(dir: string): void {
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  fs.copyFileSync(FIXTURE_IMAGE, path.join(dir, 'images/a.png'));
  fs.writeFileSync(path.join(dir, 'data.json'), JSON.stringify([
    { id: 'a1', image: 'images/a.png', conversations: [{ from: 'human', value: '<image>\nWhat colour is it?' }, { from: 'gpt', value: 'red' }] },
    { id: 'a2', image: 'images/a.png', conversations: [
      { from: 'human', value: '<image>\nHow many?' }, { from: 'gpt', value: 'two' }, { from: 'human', value: 'And the shape?' }, { from: 'gpt', value: 'circle' },
    ] },
    { id: 'gone', image: 'images/gone.png', conversations: [{ from: 'human', value: '<image>\nWhat is it?' }, { from: 'gpt', value: 'nothing' }] },
    { id: 'mute', image: 'images/a.png', conversations: [{ from: 'human', value: '<image>\nSay nothing.' }] },
  ]));
}

describe('adapter set files and the vision data preview over the protocol', () => {
  let s: ServerHandle;
  let store: string;
  const send = <R>(method: string, params: unknown) => s.connection.sendRequest(method, params) as Promise<R>;

  before(async () => {
    store = tempDir('lavin-sets-');
    s = await startServer({ adapterSetsDir: store });
    writeData(path.join(s.workspace, 'shapes'));
    const set = await importLavinPth(path.join(FIXTURE_DIR, 'adapter/checkpoint.pth'), { name: 'fixture', baseModel: { id: 'x', name: 'fixture model' } });
    set.meta.data = { data: '/somewhere', format: 'llava' };
    saveAdapterSet(path.join(store, 'fixture'), set);
  });
  after(async () => s.stop());

  it('previews image-question data: format, counts, skipped with reasons, examples', async () => {
    const p = await send<PreviewVisionDataResult>(PreviewVisionDataRequest.method, { data: path.join(s.workspace, 'shapes') });
    assert.equal(p.format, 'llava');
    assert.equal(p.records, 4);
    assert.equal(p.samples, 3);
    assert.equal(p.skippedTotal, 2);
    assert.deepEqual(p.skipped.map((x) => x.where), ['data.json#3 (id gone)', 'data.json#4 (id mute)']);
    assert.match(p.skipped[0].reason, /image images\/gone\.png does not exist/);
    assert.match(p.skipped[1].reason, /no gpt turn/);
    assert.equal(p.examples[0].instruction, 'What colour is it?');
    assert.equal(p.examples[0].answer, 'red');
    assert.equal(p.examples[0].image, 'images/a.png');
  });

  it('refuses data outside the workspace and a folder that holds no data', async () => {
    const outside = tempDir('lavin-data-');
    writeData(outside);
    assert.equal((await rpcError(send(PreviewVisionDataRequest.method, { data: outside }))).code, LavinErrorCodes.PathOutsideWorkspace);
    fs.mkdirSync(path.join(s.workspace, 'empty'));
    const e = await rpcError(send(PreviewVisionDataRequest.method, { data: path.join(s.workspace, 'empty') }));
    assert.equal(e.code, -32602);
    assert.match(e.message, /has neither data\.json .* nor problems\.json/);
  });

  it('exports a set to one file and imports it under another name; refuses clashes and relative paths', async () => {
    const file = path.join(tempDir('lavin-export-'), 'fixture.safetensors');
    const exp = await send<ExportAdapterSetResult>(ExportAdapterSetRequest.method, { name: 'fixture', file });
    assert.equal(exp.kind, 'vision');
    assert.equal(exp.fingerprinted, false);
    assert.equal(exp.bytes, fs.statSync(file).size);
    const again = await rpcError(send(ExportAdapterSetRequest.method, { name: 'fixture', file }));
    assert.match(again.message, /already exists: choose another file name/);
    // The user confirmed replacing it in the save dialog.
    await send<ExportAdapterSetResult>(ExportAdapterSetRequest.method, { name: 'fixture', file, overwrite: true });

    const clash = await rpcError(send(ImportAdapterSetRequest.method, { file }));
    assert.equal(clash.code, -32602);
    assert.match(clash.message, /an adapter set named "fixture" already exists/);
    const imp = await send<ImportAdapterSetResult>(ImportAdapterSetRequest.method, { file, name: 'fixture-2' });
    assert.deepEqual({ ...imp, path: path.basename(imp.path) }, { name: 'fixture-2', path: 'fixture-2', kind: 'vision', baseModel: 'fixture model', steps: 0 });
    const list = await send<ListAdapterSetsResult>(ListAdapterSetsRequest.method, undefined);
    assert.deepEqual(list.sets.map((x) => [x.name, x.kind]), [['fixture', 'vision'], ['fixture-2', 'vision']]);

    assert.match((await rpcError(send(ImportAdapterSetRequest.method, { file: 'fixture.safetensors' }))).message, /file must be an absolute path/);
    assert.match((await rpcError(send(ImportAdapterSetRequest.method, { file, name: '../x' }))).message, /name "\.\.\/x" must be 1-64 letters/);
    assert.match((await rpcError(send(ExportAdapterSetRequest.method, { name: 'nope', file: file + '2' }))).message, /no adapter set named "nope"/);
    // Malformed requests: invalid params, said in one line.
    for (const [method, params] of [
      [PreviewVisionDataRequest.method, {}], [PreviewVisionDataRequest.method, { data: 7 }], [ExportAdapterSetRequest.method, { name: 'fixture' }],
      [ExportAdapterSetRequest.method, { name: 'fixture', file, overwrite: 'yes' }], [ImportAdapterSetRequest.method, {}], [ImportAdapterSetRequest.method, null],
    ] as const) {
      const e = await rpcError(send(method, params));
      assert.equal(e.code, -32602, `${method} ${JSON.stringify(params)}: ${e.message}`);
      assert.ok(!e.message.includes('\n'), e.message);
    }
  });
});
