// Cancellation and the request queue against a real server process.

import * as assert from 'assert/strict';
import { after, before, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { AnswerResult, ChatRequest, LoadModelRequest, StatusRequest, TokenNotification, TokenNotificationParams } from '../../server/protocol';
import { rpcError, ServerHandle, startServer } from './serverProcess';

describe('cancellation and queueing', () => {
  let s: ServerHandle;
  const listeners = new Map<string, (p: TokenNotificationParams) => void>();
  before(async () => {
    s = await startServer();
    s.connection.onNotification(TokenNotification, (p) => listeners.get(p.streamId)?.(p));
    await s.connection.sendRequest(LoadModelRequest, {});
  });
  after(async () => s.stop());

  it('$/cancelRequest stops a streaming answer promptly (the tokens decoded while the cancel travels)', async () => {
    const source = new CancellationTokenSource();
    let seen = 0;
    let cancelledAt = -1;
    listeners.set('c', (p) => {
      seen++;
      if (p.index === 3) {
        cancelledAt = p.index;
        source.cancel();
      }
    });
    const r = (await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'Write a very long story.' }], maxNewTokens: 400, streamId: 'c' }, source.token)) as AnswerResult;
    assert.equal(r.stopReason, 'aborted');
    assert.equal(cancelledAt, 3);
    // The cancel travels to the server while decoding goes on: the tiny model decodes a token in
    // well under a millisecond, so a few ms of round trip is several tokens (9 seen for a cancel at
    // index 3). Exactness within one token is tested in-process (test/unit/generate.test.ts).
    assert.ok(r.tokens.length <= cancelledAt + 1 + 16, `stopped after ${r.tokens.length} tokens (cancelled at index ${cancelledAt})`);
    assert.equal(seen, r.tokens.length, 'no token is streamed after the answer');
    assert.equal((await s.connection.sendRequest(StatusRequest)).activity, 'idle');
  });

  it('a queued request cancelled before it starts fails with RequestCancelled, the running one completes', async () => {
    const source = new CancellationTokenSource();
    const first = s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'one' }], maxNewTokens: 60 });
    const second = s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'two' }], maxNewTokens: 60 }, source.token);
    source.cancel();
    const e = await rpcError(second);
    assert.equal(e.code, -32800);
    const r = (await first) as AnswerResult;
    assert.equal(r.tokens.length, 60);
  });

  it('runs concurrent chats one after another without mixing their streams', async () => {
    const got = new Map<string, string[]>();
    for (const id of ['x', 'y', 'z']) {
      got.set(id, []);
      listeners.set(id, (p) => got.get(id)!.push(p.text));
    }
    const prompts = { x: 'first question', y: 'second question', z: 'third question' };
    const solo = new Map<string, AnswerResult>();
    for (const [id, content] of Object.entries(prompts)) {
      solo.set(id, (await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content }], maxNewTokens: 10 })) as AnswerResult);
    }
    const together = (await Promise.all(
      Object.entries(prompts).map(([id, content]) => s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content }], maxNewTokens: 10, streamId: id })),
    )) as AnswerResult[];
    Object.keys(prompts).forEach((id, i) => {
      assert.deepEqual(together[i].tokens, solo.get(id)!.tokens, `${id}: same answer as when run alone`);
      assert.equal(got.get(id)!.join(''), together[i].text, `${id}: its stream carries only its own tokens`);
    });
    assert.ok(together[2].timings.queuedMs > 0);
  });
});
