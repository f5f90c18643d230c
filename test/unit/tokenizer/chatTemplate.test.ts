// Chat templates rendered by @huggingface/jinja against llama.cpp's own Jinja engine (reached through
// node-llama-cpp's native AddonJinjaRenderer): the templates in the vocab GGUF files and in llama.cpp's
// models/templates/ give the same text; the prompt ids follow llama.cpp's BOS handling; and two known
// templates (Llama-3.1, ChatML) give hand-checked strings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { loadNodeLlamaCpp } from '../../../bench/llamaCpp';
import { chatPromptIds, chatTemplateRenderer, modelChatRenderer, tokenizerFromGgufFile, type ChatMessage } from '../../../server/engine/tokenizer';
import { llamaCppModelsDir } from '../../helpers/llamaCppTree';

const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are helpful.' },
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: 'Hi!' },
  { role: 'user', content: 'Explain x = 1' },
];
const inputs = (bos: string, eos: string) => ({ messages: MESSAGES, add_generation_prompt: true, bos_token: bos, eos_token: eos, enable_thinking: true });

let native: Promise<(template: string, items: object) => string> | undefined;
/** llama.cpp's Jinja engine as node-llama-cpp 3.21.1 binds it (an internal binding; the test pins the version). */
function llamaCppJinja(): Promise<(template: string, items: object) => string> {
  return (native ??= (async () => {
    const { getLlama, LlamaLogLevel } = await loadNodeLlamaCpp();
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    return (template: string, items: object) => new llama._bindings.AddonJinjaRenderer(template).render(items) as string;
  })());
}

test('templates in the vocab GGUF files: same text as llama.cpp, and the ids of llama.cpp\'s chat prompt', async (t) => {
  const render = await llamaCppJinja();
  const dir = await llamaCppModelsDir();
  const withTemplate: string[] = [];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.gguf')).sort()) {
    let tok;
    try {
      tok = tokenizerFromGgufFile(path.join(dir, f));
    } catch {
      continue; // unsupported vocabulary types
    }
    if (!tok.chatTemplate) continue;
    withTemplate.push(f);
    const bos = tok.bosId === undefined ? '' : tok.tokenText(tok.bosId);
    const eos = tok.tokenText(tok.eosId);
    const ours = chatTemplateRenderer(tok.chatTemplate, { bosToken: bos, eosToken: eos }, f)(MESSAGES);
    assert.equal(ours, render(tok.chatTemplate, inputs(bos, eos)), f);
    const viaSequence = tok.encode(modelChatRenderer(tok, f)!(MESSAGES), { parseSpecial: true });
    assert.deepEqual(viaSequence, chatPromptIds(tok, MESSAGES, f), `${f}: renderer + parseSpecial encode = llama.cpp's chat ids`);
    t.diagnostic(`${f}: ${JSON.stringify(ours.slice(0, 80))}...`);
  }
  assert.ok(withTemplate.length >= 4, `templates found in ${withTemplate.join(', ')}`);
  // hand-checked: Qwen2's ChatML, no BOS added (add_bos false for qwen2)
  const qwen = tokenizerFromGgufFile(path.join(dir, 'ggml-vocab-qwen2.gguf'));
  const text = modelChatRenderer(qwen, 'qwen2')!([{ role: 'user', content: 'Hi' }]);
  assert.equal(text, '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  const ids = chatPromptIds(qwen, [{ role: 'user', content: 'Hi' }], 'qwen2');
  assert.equal(ids[0], qwen.vocab.textToToken('<|im_start|>'));
  assert.equal(qwen.decode(ids), 'system\nYou are a helpful assistant\nuser\nHi\nassistant\n', 'control tokens decode to nothing');
});

test('llama.cpp\'s models/templates: @huggingface/jinja renders what llama.cpp renders', async (t) => {
  const render = await llamaCppJinja();
  const dir = path.join(await llamaCppModelsDir(), 'templates');
  let same = 0;
  const ourFailures: string[] = [];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.jinja')).sort()) {
    const template = fs.readFileSync(path.join(dir, f), 'utf8');
    let theirs: string | undefined;
    try {
      theirs = render(template, inputs('<s>', '</s>'));
    } catch {
      theirs = undefined;
    }
    let ours: string | undefined;
    try {
      ours = chatTemplateRenderer(template, { bosToken: '<s>', eosToken: '</s>' }, f)(MESSAGES);
    } catch (err) {
      ourFailures.push(`${f}: ${(err as Error).message}`);
      continue;
    }
    if (theirs === undefined) continue;
    assert.equal(ours, theirs, f);
    same++;
  }
  t.diagnostic(`${same} templates render identically; ours fail on ${ourFailures.length}: ${ourFailures.join(' | ')}`);
  assert.ok(same >= 55, `${same} identical`);
  // what fails here are tool-calling templates that iterate `tools` (none are given) and a template that rejects system messages
  assert.ok(ourFailures.length <= 10, ourFailures.join('\n'));
});

test('known templates: Llama-3.1 and ChatML, hand-checked', () => {
  const llama31 = `{{- bos_token }}{%- for m in messages %}{{- '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}`;
  assert.equal(
    chatTemplateRenderer(llama31, { bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' }, 'llama-3')([{ role: 'user', content: ' Hi ' }]),
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  );
  const chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  assert.equal(
    chatTemplateRenderer(chatml, {}, 'chatml')([{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }]),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n',
  );
  assert.throws(() => chatTemplateRenderer('{% for %}', {}, 'bad.gguf'), /bad\.gguf: the chat template does not parse/);
  assert.throws(() => chatTemplateRenderer("{{ raise_exception('no system') }}", {}, 'r.gguf')([]), /r\.gguf: the chat template failed to render: .*no system/);
});
