// The model's own chat template (tokenizer.chat_template in GGUF, chat_template in
// tokenizer_config.json), rendered with @huggingface/jinja the way llama.cpp renders it
// (common/chat.cpp): messages, add_generation_prompt, bos_token / eos_token as the vocabulary spells
// them; a leading BOS (trailing EOS) text is dropped when tokenising will add that token anyway.

import type { Tokenizer } from './tokenizerTypes';

// The package's types are ESM-only; its CommonJS build loads with require.
type JinjaModule = typeof import('@huggingface/jinja', { with: { 'resolution-mode': 'import' } });
type Template = InstanceType<JinjaModule['Template']>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Template } = require('@huggingface/jinja') as JinjaModule;

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

/** messages -> the prompt text the model expects (ends with the assistant's turn opened). */
export type ChatRenderer = (messages: ChatMessage[]) => string;

export interface ChatTemplateTokens {
  bosToken?: string;
  eosToken?: string;
}

export function chatTemplateRenderer(template: string, tokens: ChatTemplateTokens, source: string): ChatRenderer {
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (err) {
    throw new Error(`${source}: the chat template does not parse: ${(err as Error).message}`);
  }
  return (messages) => {
    try {
      return compiled.render({
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        add_generation_prompt: true,
        bos_token: tokens.bosToken ?? '',
        eos_token: tokens.eosToken ?? '',
        enable_thinking: true,
      });
    } catch (err) {
      throw new Error(`${source}: the chat template failed to render: ${(err as Error).message}`);
    }
  };
}

/**
 * The tokenizer's own template as a renderer whose text, encoded with special tokens parsed and no
 * added BOS (engine/sequence.ts's chatTemplate family), gives the ids llama.cpp feeds for the chat:
 * llama.cpp drops a leading BOS text and lets its raw-prompt rule add the BOS token, so a template
 * that does not write BOS itself gets it here (likewise EOS for files that add one). Undefined when
 * the file has no template.
 */
export function modelChatRenderer(tokenizer: Tokenizer, source: string): ChatRenderer | undefined {
  if (!tokenizer.chatTemplate) return undefined;
  const { bosText, eosText, addsBos, addsEos } = specialTexts(tokenizer);
  const render = chatTemplateRenderer(tokenizer.chatTemplate, { bosToken: bosText, eosToken: eosText }, source);
  return (messages) => {
    let text = render(messages);
    if (addsBos && bosText && !text.startsWith(bosText)) text = bosText + text;
    if (addsEos && eosText && !text.endsWith(eosText)) text += eosText;
    return text;
  };
}

function specialTexts(tokenizer: Tokenizer) {
  const text = (id: number | undefined) => (id === undefined || !tokenizer.tokenText ? undefined : tokenizer.tokenText(id));
  const empty = tokenizer.encodeRaw('');
  return {
    bosText: text(tokenizer.bosId),
    eosText: text(tokenizer.eosId),
    addsBos: tokenizer.bosId !== undefined && empty[0] === tokenizer.bosId,
    addsEos: empty.length > 0 && empty[empty.length - 1] === tokenizer.eosId && !(empty.length === 1 && tokenizer.bosId === tokenizer.eosId),
  };
}

/**
 * The ids llama.cpp feeds for a chat (common_chat_templates_apply, then the completion tool's
 * tokenisation): the rendered template less a leading BOS text (trailing EOS text) that the file's
 * raw-prompt rule adds as a token anyway, tokenised as a raw prompt.
 */
export function chatPromptIds(tokenizer: Tokenizer, messages: ChatMessage[], source: string): number[] {
  if (!tokenizer.chatTemplate) throw new Error(`${source}: the model has no chat template`);
  const { bosText, eosText, addsBos, addsEos } = specialTexts(tokenizer);
  let prompt = chatTemplateRenderer(tokenizer.chatTemplate, { bosToken: bosText, eosToken: eosText }, source)(messages);
  if (addsBos && bosText && prompt.startsWith(bosText)) prompt = prompt.slice(bosText.length);
  if (addsEos && eosText && prompt.endsWith(eosText)) prompt = prompt.slice(0, prompt.length - eosText.length);
  return tokenizer.encodeRaw(prompt);
}
