// lavin/listModels over the protocol: a real server lists a synthetic Ollama store and a picked
// GGUF file (working and broken models), needs no model, and refuses malformed params by name.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import { ListModelsRequest, ListModelsResult, StatusRequest } from '../../server/protocol';
import { OllamaStore, tempDir, TINY_PARAMETERS, tinyGguf, truncated, write } from '../helpers/modelStores';
import { rpcError, ServerHandle, startServer } from './serverProcess';

describe('lavin/listModels', () => {
  let s: ServerHandle;
  let root: string;
  before(async () => {
    root = tempDir('lavin-stores-');
    const store = new OllamaStore(path.join(root, 'ollama'));
    store.model('tiny:latest', tinyGguf());
    write(path.join(root, 'ollama', 'manifests', 'registry.ollama.ai', 'library', 'broken', 'latest'), 'not json');
    write(path.join(root, 'picked', 'cut.gguf'), truncated(tinyGguf()));
    s = await startServer();
  });
  after(async () => {
    await s.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('lists the store and the picked file: usable models with their facts, broken ones with their reason', async () => {
    const r = (await s.connection.sendRequest(ListModelsRequest, {
      ollama: [path.join(root, 'ollama')], lmStudio: [], huggingFace: [], paths: [path.join(root, 'picked', 'cut.gguf')],
    })) as ListModelsResult;
    assert.deepEqual(r.models.map((m) => m.name).sort(), ['broken:latest', 'cut.gguf', 'tiny:latest']);
    const tiny = r.models.find((m) => m.name === 'tiny:latest')!;
    assert.equal(tiny.problem, undefined, tiny.problem);
    assert.equal(tiny.architecture, 'llama');
    assert.equal(tiny.parameters, TINY_PARAMETERS);
    assert.equal(tiny.quantization, 'Q8_0');
    assert.ok(['yes', 'tight'].includes(tiny.memory.fits), tiny.memory.message);
    assert.match(r.models.find((m) => m.name === 'broken:latest')!.problem ?? '', /not valid JSON/);
    assert.match(r.models.find((m) => m.name === 'cut.gguf')!.problem ?? '', /truncated/);
    assert.deepEqual(r.searched.map((x) => [x.source, x.exists]), [['ollama', true], ['picked', true]]);
    // Listing needs no model and loads none.
    assert.equal((await s.connection.sendRequest(StatusRequest)).model, null);
  });

  it('malformed params are refused with -32602 naming the field', async () => {
    const e = await rpcError(s.connection.sendRequest(ListModelsRequest, { paths: [42] } as never));
    assert.equal(e.code, -32602);
    assert.match(e.message, /paths\[0\] must be a non-empty path string/);
    const e2 = await rpcError(s.connection.sendRequest(ListModelsRequest, { ollama: 'one' } as never));
    assert.match(e2.message, /ollama must be an array/);
  });
});
