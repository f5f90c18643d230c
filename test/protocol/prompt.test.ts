// Chat and explain prompts, and fitting them into the context (in-process, a word-count tokenizer
// over the engine's LaVIN prompt text).

import * as assert from 'assert/strict';
import { describe, it } from 'node:test';
import { LAVIN_FAMILY, PromptBody, promptText } from '../../server/engine/sequence';
import { ChatMessage } from '../../server/protocol';
import { chatBody, explainMessage, fitChat, fitExplain } from '../../server/host/prompt';

const text = (body: PromptBody) => promptText(LAVIN_FAMILY, body);
const renderChat = (messages: ChatMessage[], context?: string) => text(chatBody(messages, context));
const countWords = (s: string) => s.split(/\s+/).filter(Boolean).length;
const words = (body: PromptBody) => countWords(text(body));

describe('prompt templates', () => {
  it('uses the instruction format, previous turns concatenated', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'What is LaVIN?' }, { role: 'assistant', content: 'A multimodal model.' }, { role: 'user', content: 'Who made it?' },
    ];
    assert.equal(renderChat(msgs), 'Instruction: What is LaVIN?\nResponse: A multimodal model.\nInstruction: Who made it?\nResponse:');
  });

  it('puts attached code inside the instruction with its language and file name', () => {
    const p = renderChat([{ role: 'user', content: 'Why does this fail?', code: { fileName: 'a.py', languageId: 'python', text: 'print(x)' } }]);
    assert.equal(p, 'Instruction: Why does this fail?\npython code from a.py:\n```python\nprint(x)\n```\nResponse:');
  });

  it('drops whole earlier exchanges first, so the prompt still starts with an instruction', () => {
    const long = 'w '.repeat(50);
    const msgs: ChatMessage[] = [
      { role: 'user', content: long }, { role: 'assistant', content: long }, { role: 'user', content: 'short question' },
    ];
    const f = fitChat(msgs, words, 20);
    assert.equal(text(f.body), 'Instruction: short question\nResponse:');
    assert.match(f.notices[0], /2 oldest message\(s\) were left out/);
  });

  it('cuts attached code, then the start of the message, to fit', () => {
    const code = Array.from({ length: 100 }, (_, i) => `line${i}`).join('\n');
    const f = fitChat([{ role: 'user', content: 'explain', code: { fileName: 'x.ts', languageId: 'typescript', text: code } }], words, 30);
    assert.ok(words(f.body) <= 30);
    assert.match(text(f.body), /line0\nline1/);
    assert.match(text(f.body), /\[\.\.\.\]/);
    assert.match(f.notices.join(), /attached code was cut/);
    const g = fitChat([{ role: 'user', content: 'a '.repeat(100) + 'END' }], words, 10);
    assert.ok(words(g.body) <= 10);
    assert.match(text(g.body), /END\nResponse:$/, 'the newest text is kept');
  });

  it('puts context text after the newest instruction, and cuts it before the message', () => {
    const msgs: ChatMessage[] = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'What does the dialog say?' }];
    assert.equal(renderChat(msgs, 'Error: disk full'), 'Instruction: hi\nResponse: hello\nInstruction: What does the dialog say?\nContext: Error: disk full\nResponse:');
    const screen = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const f = fitChat(msgs, words, 30, screen);
    assert.ok(words(f.body) <= 30);
    assert.match(f.notices[0], /2 oldest message\(s\) were left out/);
    assert.match(f.notices[1], /context text was cut to its first \d+ of \d+ characters/);
    assert.match(text(f.body), /^Instruction: What does the dialog say\?\nContext: word0 word1 [^]*\n\[\.\.\.\]\nResponse:$/);
    const g = fitChat([{ role: 'user', content: 'a '.repeat(40) + 'END' }], words, 12, screen);
    assert.match(g.notices.join(), /context text was left out/);
    assert.doesNotMatch(text(g.body), /Context:/);
    assert.match(text(g.body), /END\nResponse:$/);
  });

  it('explains a selection with a few lines around it, fewer when space is short', () => {
    const file = Array.from({ length: 40 }, (_, i) => `l${i}`).join('\n');
    const m = explainMessage({ fileName: 'f.go', languageId: 'go', text: file, selection: { startLine: 20, endLine: 21 } });
    assert.match(m.content, /selected go code from f\.go \(lines 21-22\)/);
    assert.match(m.content, /Code before the selection:\n```go\nl15\nl16\nl17\nl18\nl19\n```/);
    assert.match(m.content, /Code after the selection:\n```go\nl22\nl23\nl24\nl25\nl26\n```/);
    assert.equal(m.code!.text, 'l20\nl21');
    const tight = fitExplain({ fileName: 'f.go', languageId: 'go', text: file, selection: { startLine: 20, endLine: 21 } }, words, 40);
    assert.ok(words(tight.body) <= 40);
    assert.match(tight.notices.join(), /reduced to \d line\(s\)/);
    assert.match(text(tight.body), /l20\nl21/);
  });
});
