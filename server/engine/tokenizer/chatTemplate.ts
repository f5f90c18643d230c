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

/** The tokenizer's own template as a renderer, or undefined when the file has none. */
export function modelChatRenderer(tokenizer: Tokenizer, source: string): ChatRenderer | undefined {
  if (!tokenizer.chatTemplate) return undefined;
  const text = (id: number | undefined) => (id === undefined || !tokenizer.tokenText ? undefined : tokenizer.tokenText(id));
  return chatTemplateRenderer(tokenizer.chatTemplate, { bosToken: text(tokenizer.bosId), eosToken: text(tokenizer.eosId) }, source);
}

/**
 * The ids llama.cpp feeds for a chat: the rendered template, without a leading BOS text that
 * encodeRaw's BOS rule adds as a token anyway (common_chat_templates_apply), tokenised as a raw prompt.
 */
export function chatPromptIds(tokenizer: Tokenizer, render: ChatRenderer, messages: ChatMessage[]): number[] {
  let prompt = render(messages);
  const withBos = tokenizer.encodeRaw('');
  const bosText = tokenizer.bosId !== undefined && tokenizer.tokenText ? tokenizer.tokenText(tokenizer.bosId) : '';
  if (withBos[0] === tokenizer.bosId && bosText !== '' && prompt.startsWith(bosText)) prompt = prompt.slice(bosText.length);
  return tokenizer.encodeRaw(prompt);
}
