// lavin/setupModel over the protocol: progress, validation by loading, errors; and the offline guard.

import * as assert from 'assert/strict';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import { ProgressType } from 'vscode-languageserver-protocol';
import type { WorkDoneProgressBegin, WorkDoneProgressEnd, WorkDoneProgressReport } from 'vscode-languageserver-protocol';
import { ChatRequest, LavinErrorCodes, SetupModelRequest, StatusRequest } from '../../server/protocol';
import { FIXTURE_DIR } from '../golden/fixture';
import { REPO, rpcError, ServerHandle, startServer, tempDir } from './serverProcess';

const FIXTURE = FIXTURE_DIR;
const TOKENIZER = path.join(REPO, 'test', 'data', 'tokenizer', 'tokenizer.model');
type Progress = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

describe('model setup over the protocol', () => {
  let s: ServerHandle;
  const seen: Progress[] = [];
  before(async () => {
    s = await startServer();
    s.connection.onProgress(new ProgressType<Progress>(), 'setup', (v) => {
      seen.push(v);
    });
  });
  after(async () => s.stop());

  const params = (out: string) => ({
    llama: path.join(FIXTURE, 'llama'), clip: path.join(FIXTURE, 'clip', 'visual.pth'), adapter: path.join(FIXTURE, 'adapter', 'checkpoint.pth'),
    tokenizer: TOKENIZER, out, name: 'converted',
  });

  it('copies, validates and activates a model folder with work-done progress', async () => {
    const out = path.join(tempDir('lavin-setup-'), 'm');
    const r = await s.connection.sendRequest(SetupModelRequest, { ...params(out), copy: true, workDoneToken: 'setup' });
    assert.equal(r.dir, out);
    assert.equal(r.model.name, 'converted');
    assert.ok(fs.existsSync(path.join(out, 'llama', 'consolidated.00.pth')));
    assert.equal(seen[0].kind, 'begin');
    assert.equal(seen.at(-1)!.kind, 'end');
    const pct = seen.filter((v): v is WorkDoneProgressReport => v.kind === 'report').map((v) => v.percentage!);
    assert.deepEqual(pct, [...pct].sort((a, b) => a - b), 'percentages only grow');
    assert.equal(pct.at(-1), 100);
    assert.equal((await s.connection.sendRequest(StatusRequest)).model?.name, 'converted');
    const chat = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'hi' }], maxNewTokens: 2 });
    assert.equal(chat.tokens.length, 2);
  });

  it('names what is wrong: missing files, an unsupported precision, a folder already set up', async () => {
    const out = path.join(tempDir('lavin-setup-'), 'bad');
    const missing = await rpcError(s.connection.sendRequest(SetupModelRequest, { ...params(out), adapter: '/no/adapter.pth' }));
    assert.equal(missing.code, LavinErrorCodes.ModelLoadFailed);
    assert.match(missing.message, /adapter checkpoint \/no\/adapter\.pth does not exist/);
    const fp64 = await rpcError(s.connection.sendRequest(SetupModelRequest, { ...params(out), precision: 'fp64' as never }));
    assert.match(fp64.message, /precision must be one of fp32, fp16, int8, int4/);
    const done = path.join(tempDir('lavin-setup-'), 'twice');
    await s.connection.sendRequest(SetupModelRequest, { ...params(done), activate: false });
    const twice = await rpcError(s.connection.sendRequest(SetupModelRequest, params(done)));
    assert.match(twice.message, /already holds a model\.json/);
  });

  it("an int8 setup saves and checks onnxruntime's packed weights unless the client turned packedWeights off", async () => {
    const stampIn = (out: string) => {
      const converted = path.join(out, 'converted', 'int8-fused');
      return fs.readdirSync(converted).some((f) => f.endsWith('.packed.json'));
    };
    const on = path.join(tempDir('lavin-setup-'), 'packed');
    await s.connection.sendRequest(SetupModelRequest, { ...params(on), precision: 'int8', activate: false });
    assert.ok(stampIn(on), 'the default setup checks a packed copy (and stamps the verdict)');
    const off = await startServer({ packedWeights: false });
    try {
      const out = path.join(tempDir('lavin-setup-'), 'unpacked');
      await off.connection.sendRequest(SetupModelRequest, { ...params(out), precision: 'int8', activate: false });
      assert.equal(stampIn(out), false, 'packedWeights: false wrote a packed copy');
    } finally {
      await off.stop();
    }
  });
});

describe('offline guard', () => {
  it('makes sockets, HTTP, DNS and fetch throw in a process that installed it', async () => {
    const guard = path.join(__dirname, '..', '..', 'server', 'host', 'noNetwork.js');
    const script = `
      require(${JSON.stringify(guard)}).disableNetwork();
      const tries = {
        net: () => require('net').connect(80, '127.0.0.1'),
        socket: () => new (require('net').Socket)().connect(80, '127.0.0.1'),
        http: () => require('http').get('http://127.0.0.1/'),
        dns: () => require('dns').lookup('example.com', () => {}),
        fetch: () => fetch('http://127.0.0.1/'),
      };
      const out = {};
      for (const [k, f] of Object.entries(tries)) { try { f(); out[k] = 'allowed'; } catch (e) { out[k] = e.name; } }
      console.log(JSON.stringify(out));`;
    const stdout = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['-e', script], (err, so) => (err ? reject(err) : resolve(so))));
    assert.deepEqual(JSON.parse(stdout), { net: 'NetworkDisabledError', socket: 'NetworkDisabledError', http: 'NetworkDisabledError', dns: 'NetworkDisabledError', fetch: 'NetworkDisabledError' });
  });
});
