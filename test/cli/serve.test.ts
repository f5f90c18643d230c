// `lavin serve --stdio` speaks the protocol.

import * as assert from 'assert/strict';
import { spawn } from 'child_process';
import { describe, it } from 'node:test';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { StatusRequest } from '../../server/protocol';
import { BIN, tempDir } from './runLavin';

describe('lavin serve --stdio', () => {
  it('answers initialize and lavin/status, and exits on exit', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, LAVIN_HOME: tempDir('lavin-home-') } });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const c = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    c.listen();
    const init = (await c.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities: {} })) as { serverInfo: { name: string } };
    assert.equal(init.serverInfo.name, 'lavin-code');
    const status = await c.sendRequest(StatusRequest);
    assert.equal(status.activity, 'idle');
    await c.sendRequest('shutdown');
    await c.sendNotification('exit');
    assert.equal(await exited, 0);
    c.dispose();
  });
});
