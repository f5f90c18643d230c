// The client side notices when the server process dies, and the server exits when its client goes.

import * as assert from 'assert/strict';
import { describe, it } from 'node:test';
import { ChatRequest, LoadModelRequest, StatusRequest, TokenNotification } from '../../server/protocol';
import { startServer } from './serverProcess';

describe('process lifecycle', () => {
  it('a killed server is detected by the client connection (onClose/onError) and pending requests fail', async () => {
    const s = await startServer();
    await s.connection.sendRequest(LoadModelRequest, {});
    let closed = false;
    let errored = false;
    // vscode-jsonrpc leaves pending requests open on close; the client disposes the connection to fail
    // them (vscode-languageclient does the same before restarting the server).
    const closedP = new Promise<void>((resolve) => s.connection.onClose(() => {
      closed = true;
      s.connection.dispose();
      resolve();
    }));
    s.connection.onError(() => (errored = true));
    let firstToken!: () => void;
    const streaming = new Promise<void>((resolve) => (firstToken = resolve));
    s.connection.onNotification(TokenNotification, () => firstToken());
    const pending = s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'a long answer please' }], maxNewTokens: 400, streamId: 'k' });
    const outcome = pending.then(() => 'resolved', (e: Error) => e.message);
    await streaming;
    s.child.kill('SIGKILL');
    const exit = await s.exited;
    assert.equal(exit.signal, 'SIGKILL');
    await closedP;
    assert.ok(closed, 'onClose fired');
    assert.match(await outcome, /connection got disposed/, 'the request in flight is rejected, not left hanging');
    await assert.rejects(async () => s.connection.sendRequest(StatusRequest), 'new requests fail at once');
    void errored; // onError may or may not fire before onClose depending on timing; onClose is the contract.
  });

  it('exits with code 0 after shutdown + exit', async () => {
    const s = await startServer();
    await s.connection.sendRequest('shutdown');
    await s.connection.sendNotification('exit');
    assert.equal((await s.exited).code, 0);
    s.connection.dispose();
  });

  it('exits when its client closes stdin (the editor went away)', async () => {
    const s = await startServer();
    await s.connection.sendRequest(StatusRequest);
    s.child.stdin!.end();
    const exit = await s.exited;
    assert.equal(exit.code, 0);
    assert.equal(exit.signal, null);
    s.connection.dispose();
  });
});
