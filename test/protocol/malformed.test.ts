// Bad bytes on stdin: the server answers with JSON-RPC errors and stays up.

import * as assert from 'assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawWire } from './rawWire';
import { spawnServer } from './serverProcess';
import { ChildProcess } from 'child_process';

describe('malformed and unknown messages', () => {
  let child: ChildProcess;
  let wire: RawWire;
  let nextId = 1;
  const request = (method: string, params?: unknown) => {
    const id = nextId++;
    wire.send(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    return wire.response(id);
  };
  const stillUp = async () => {
    const r = await request('lavin/status');
    assert.equal(r.error, undefined);
    assert.equal((r.result as { activity: string }).activity, 'idle');
  };

  before(async () => {
    child = spawnServer().child;
    wire = new RawWire(child);
    const init = await request('initialize', { processId: null, rootUri: null, capabilities: {} });
    assert.ok(init.result);
  });
  after(() => {
    child.kill();
  });

  it('answers a body that is not JSON with a parse error (id null)', async () => {
    wire.frame('{"jsonrpc": "2.0", "id": 99, "method": ');
    const r = await wire.response(null);
    assert.equal(r.error?.code, -32700);
    assert.match(r.error!.message, /not valid JSON/);
    await stillUp();
  });

  it('answers a header without Content-Length and resynchronises on the next frame', async () => {
    wire.bytes('Content-Type: application/json\r\n\r\n');
    const r = await wire.response(null);
    assert.equal(r.error?.code, -32700);
    assert.match(r.error!.message, /Content-Length/);
    await stillUp();
  });

  it('answers JSON that is not a JSON-RPC message with invalid request', async () => {
    wire.frame('[1, 2, 3]');
    assert.equal((await wire.response(null)).error?.code, -32600);
    wire.frame('"just a string"');
    assert.equal((await wire.response(null)).error?.code, -32600);
    wire.send({ id: 7, method: 'lavin/status' });
    const noVersion = await wire.response(7);
    assert.equal(noVersion.error?.code, -32600);
    assert.match(noVersion.error!.message, /jsonrpc/);
    await stillUp();
  });

  it('answers an unknown method with method-not-found and ignores unknown notifications', async () => {
    const r = await request('lavin/doesNotExist', {});
    assert.equal(r.error?.code, -32601);
    wire.send({ jsonrpc: '2.0', method: 'lavin/unknownNotification', params: {} });
    await stillUp();
  });

  it('answers wrong params with invalid params naming the field', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['lavin/chat', { messages: 'hello' }, /messages must be an array/],
      ['lavin/chat', { messages: [] }, /must not be empty/],
      ['lavin/chat', { messages: [{ role: 'robot', content: 'x' }] }, /messages\[0\]\.role/],
      ['lavin/chat', { messages: [{ role: 'user', content: 'x' }], maxNewTokens: -5 }, /maxNewTokens must be at least 1/],
      ['lavin/chat', { messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }, /temperature must be a number/],
      ['lavin/explain', { text: 'x' }, /path must be a non-empty string/],
      ['lavin/explain', { path: 'a.py', selection: { startLine: 1, endLine: 0 } }, /selection\.endLine \(0\) is before/],
      ['lavin/train', {}, /docs must be a non-empty string/],
      ['lavin/loadModel', { device: 'abacus' }, /device must be one of/],
      ['lavin/activateAdapterSet', { name: 42 }, /name must be/],
      ['lavin/setupModel', { llama: 'x' }, /clip must be a non-empty string/],
    ];
    for (const [method, params, message] of cases) {
      const r = await request(method, params);
      assert.equal(r.error?.code, -32602, `${method} ${JSON.stringify(params)}`);
      assert.match(r.error!.message, message);
    }
    await stillUp();
  });

  // Last: the server then skips every following byte as part of that frame, as framing requires.
  it('skips an oversized frame without reading it all into memory', async () => {
    wire.bytes('Content-Length: 999999999999\r\n\r\n{}');
    const r = await wire.response(null);
    assert.equal(r.error?.code, -32600);
    assert.match(r.error!.message, /exceeds/);
    assert.equal(child.exitCode, null);
  });
});
