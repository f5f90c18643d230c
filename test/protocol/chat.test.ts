// Chat and explain against a real server process with the embedded tiny model.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import {
  AnswerResult, ChatRequest, ExplainRequest, LavinErrorCodes, LoadModelRequest, StatusRequest, TokenNotification, TokenNotificationParams,
  UnloadModelRequest,
} from '../../server/protocol';
import { imageBase64, rpcError, ServerHandle, startServer } from './serverProcess';

function checkRouter(r: AnswerResult, layers: number): void {
  assert.equal(r.routerWeights.length, layers, 'one router weight pair per LLaMA layer');
  for (const [a, b] of r.routerWeights) {
    assert.ok(a >= 0 && b >= 0, 'router weights are probabilities');
    assert.ok(Math.abs(a + b - 1) < 1e-4, `router weights sum to 1, got ${a + b}`);
  }
}

describe('chat over the protocol', () => {
  let s: ServerHandle;
  const streams = new Map<string, TokenNotificationParams[]>();
  before(async () => {
    s = await startServer({ maxImageBytes: 64 * 1024 });
    s.connection.onNotification(TokenNotification, (p) => {
      if (!streams.has(p.streamId)) streams.set(p.streamId, []);
      streams.get(p.streamId)!.push(p);
    });
  });
  after(async () => s.stop());

  it('reports no model, then the loaded embedded model', async () => {
    const before = await s.connection.sendRequest(StatusRequest);
    assert.equal(before.model, null);
    assert.equal(before.activity, 'idle');
    const st = await s.connection.sendRequest(LoadModelRequest, {});
    assert.equal(st.model?.name, 'lavin-tiny');
    assert.equal(st.model?.precision, 'fp32');
    assert.equal(st.model?.llama.vocab, 32000);
    assert.ok(st.memory.rssBytes > 0);
  });

  it('streams tokens that add up to the answer, with the text route and router weights', async () => {
    const r = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'What is a mixture of adapters?' }], maxNewTokens: 12, streamId: 'a' });
    const tokens = streams.get('a') ?? [];
    assert.equal(tokens.length, r.tokens.length, 'one notification per generated token');
    assert.deepEqual(tokens.map((t) => t.index), tokens.map((_, i) => i));
    assert.deepEqual(tokens.map((t) => t.id), r.tokens);
    assert.equal(tokens.map((t) => t.text).join(''), r.text);
    assert.equal(r.route, 'text');
    assert.equal(r.stopReason === 'max-tokens' || r.stopReason === 'eos', true);
    checkRouter(r, 2);
    assert.deepEqual(r.notices, []);
  });

  it('is deterministic when greedy', async () => {
    const msg = { messages: [{ role: 'user' as const, content: 'Say something.' }], maxNewTokens: 6 };
    const a = await s.connection.sendRequest(ChatRequest, msg);
    const b = await s.connection.sendRequest(ChatRequest, msg);
    assert.deepEqual(a.tokens, b.tokens);
  });

  it("a conversation's next turn reuses the previous prompt's rows and answers as a fresh run does", async () => {
    const question = { role: 'user' as const, content: 'Say something.' };
    const first = await s.connection.sendRequest(ChatRequest, { messages: [question], maxNewTokens: 6 });
    const turn2 = { messages: [question, { role: 'assistant' as const, content: first.text }, { role: 'user' as const, content: 'And then?' }], maxNewTokens: 6 };
    const followUp = await s.connection.sendRequest(ChatRequest, turn2);
    assert.ok((followUp.reusedPromptTokens ?? 0) >= first.promptTokens - 1, `reused ${followUp.reusedPromptTokens} of the first prompt's ${first.promptTokens} tokens`);
    await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'Something unrelated.' }], maxNewTokens: 2 });
    const fresh = await s.connection.sendRequest(ChatRequest, turn2);
    assert.ok((fresh.reusedPromptTokens ?? 0) < first.promptTokens - 1, 'after another conversation the turn is mostly computed again');
    assert.deepEqual(followUp.tokens, fresh.tokens);
  });

  it('takes the image route for a message with an image', async () => {
    const r = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'What is in this picture?', images: [imageBase64()] }], maxNewTokens: 4 });
    assert.equal(r.route, 'image');
    assert.ok(r.timings.visionMs > 0);
    checkRouter(r, 2);
    const text = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'What is in this picture?' }], maxNewTokens: 4 });
    assert.notDeepEqual(r.routerWeights, text.routerWeights, 'the modality token changes the routing');
  });

  it('uses the newest image and says so when there are several', async () => {
    const img = imageBase64();
    const r = await s.connection.sendRequest(ChatRequest, {
      messages: [{ role: 'user', content: 'first', images: [img] }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'second', images: [img] }],
      maxNewTokens: 2,
    });
    assert.equal(r.route, 'image');
    assert.match(r.notices.join('\n'), /one image per answer/);
  });

  it('rejects bytes that are not an image with a clear error', async () => {
    const e = await rpcError(s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'x', images: [Buffer.from('definitely not a png').toString('base64')] }] }));
    assert.equal(e.code, LavinErrorCodes.BadImage);
    assert.match(e.message, /not a supported image/);
  });

  it('rejects an image over the size limit before decoding it', async () => {
    const big = Buffer.alloc(100 * 1024, 7).toString('base64');
    const e = await rpcError(s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'x', images: [big] }] }));
    assert.equal(e.code, LavinErrorCodes.BadImage);
    assert.match(e.message, /too large/);
  });

  it('rejects an image that is not base64', async () => {
    const e = await rpcError(s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'x', images: ['@@not base64!!'] }] }));
    assert.equal(e.code, LavinErrorCodes.BadImage);
  });

  it('drops the oldest turns of a conversation longer than the context, with a notice', async () => {
    const long = 'word '.repeat(150);
    const messages = [
      { role: 'user' as const, content: `oldest ${long}` }, { role: 'assistant' as const, content: long },
      { role: 'user' as const, content: `middle ${long}` }, { role: 'assistant' as const, content: long },
      { role: 'user' as const, content: 'newest question' },
    ];
    const r = await s.connection.sendRequest(ChatRequest, { messages, maxNewTokens: 8 });
    assert.match(r.notices.join('\n'), /oldest message\(s\) were left out/);
    assert.ok(r.promptTokens + 8 <= 512, `prompt ${r.promptTokens} tokens leaves room for the answer`);
    assert.equal(r.tokens.length, 8);
  });

  it('cuts a single message longer than the context instead of failing', async () => {
    const r = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'tell me '.repeat(2000) }], maxNewTokens: 4 });
    assert.match(r.notices.join('\n'), /cut to its last/);
    assert.ok(r.promptTokens <= 512 - 4);
    assert.equal(r.tokens.length, 4);
  });

  it('explains a workspace file selection and refuses files outside the workspace', async () => {
    const file = path.join(s.workspace, 'add.py');
    fs.writeFileSync(file, 'import os\n\n\ndef add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n');
    const r = await s.connection.sendRequest(ExplainRequest, { path: 'add.py', selection: { startLine: 3, endLine: 4 }, maxNewTokens: 5, streamId: 'e' });
    assert.equal(r.tokens.length, 5);
    assert.equal(r.route, 'text');
    assert.equal((streams.get('e') ?? []).length, 5);
    const outside = await rpcError(s.connection.sendRequest(ExplainRequest, { path: '/etc/hostname' }));
    assert.equal(outside.code, LavinErrorCodes.PathOutsideWorkspace);
    const escape = await rpcError(s.connection.sendRequest(ExplainRequest, { path: '../../etc/hostname' }));
    assert.equal(escape.code, LavinErrorCodes.PathOutsideWorkspace);
    fs.symlinkSync('/etc', path.join(s.workspace, 'etc-link'));
    const viaLink = await rpcError(s.connection.sendRequest(ExplainRequest, { path: 'etc-link/hostname' }));
    assert.equal(viaLink.code, LavinErrorCodes.PathOutsideWorkspace, 'symlinks out of the workspace are refused');
    const missing = await rpcError(s.connection.sendRequest(ExplainRequest, { path: 'nope.py' }));
    assert.equal(missing.code, -32602);
    assert.match(missing.message, /nope\.py does not exist/);
  });

  it('explains unsaved text without touching the file system', async () => {
    const r = await s.connection.sendRequest(ExplainRequest, { path: 'untitled:Untitled-1', text: 'x = 1\ny = x + 1\n', languageId: 'python', selection: { startLine: 1, endLine: 1 }, maxNewTokens: 3 });
    assert.equal(r.tokens.length, 3);
  });

  it('gives a clear error for a model folder that does not exist, and keeps the old model', async () => {
    const e = await rpcError(s.connection.sendRequest(LoadModelRequest, { dir: path.join(s.workspace, 'no-model') }));
    assert.equal(e.code, LavinErrorCodes.ModelLoadFailed);
    assert.match(e.message, /no model\.json/);
    assert.equal((await s.connection.sendRequest(StatusRequest)).model?.name, 'lavin-tiny');
    const bad = await rpcError(s.connection.sendRequest(LoadModelRequest, { precision: 'fp12' as never }));
    assert.match(bad.message, /precision must be one of fp32, fp16, int8, int4/);
    const int8 = await s.connection.sendRequest(LoadModelRequest, { precision: 'int8' });
    assert.equal(int8.model?.precision, 'int8');
    assert.equal((await s.connection.sendRequest(LoadModelRequest, { precision: 'fp32' })).model?.precision, 'fp32');
  });

  it('unloads and loads again on the next chat', async () => {
    const st = await s.connection.sendRequest(UnloadModelRequest);
    assert.equal(st.model, null);
    const r = await s.connection.sendRequest(ChatRequest, { messages: [{ role: 'user', content: 'hi' }], maxNewTokens: 2 });
    assert.equal(r.tokens.length, 2);
    assert.equal((await s.connection.sendRequest(StatusRequest)).model?.name, 'lavin-tiny');
  });
});
