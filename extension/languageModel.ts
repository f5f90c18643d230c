// LaVIN as a VS Code language model (Chat view model picker, vscode.lm) where the API exists:
// `vscode.lm.registerLanguageModelChatProvider` arrived in VS Code 1.104. @types/vscode here is 1.100,
// so the few types used are declared locally and the function is detected at run time; older
// editors simply do not get the registration.

import * as vscode from 'vscode';
import { randomUUID } from 'crypto';
import { AnswerResult, ChatMessage, ChatRequest } from '../server/protocol';
import type { Backend } from './backend';
import { LavinConfig, samplingFrom } from './config';

interface ChatInformation {
  id: string;
  name: string;
  family: string;
  version: string;
  maxInputTokens: number;
  maxOutputTokens: number;
  tooltip?: string;
  detail?: string;
  capabilities: { imageInput?: boolean; toolCalling?: boolean | number };
}

interface RequestMessage {
  role: number;
  content: ReadonlyArray<unknown>;
  name?: string;
}

interface ChatProvider {
  provideLanguageModelChatInformation(options: { silent: boolean }, token: vscode.CancellationToken): Promise<ChatInformation[]>;
  provideLanguageModelChatResponse(
    model: ChatInformation,
    messages: readonly RequestMessage[],
    options: unknown,
    progress: vscode.Progress<unknown>,
    token: vscode.CancellationToken,
  ): Promise<void>;
  provideTokenCount(model: ChatInformation, text: string | RequestMessage, token: vscode.CancellationToken): Promise<number>;
}

type Register = (vendor: string, provider: ChatProvider) => vscode.Disposable;

export interface LanguageModelRegistration extends vscode.Disposable {
  /** The newest answer given through the API (tests check its route). */
  lastAnswer?: AnswerResult;
}

/** Registers the provider when the running VS Code has the API; returns undefined otherwise. */
export function registerLanguageModel(backend: Backend, getConfig: () => LavinConfig): LanguageModelRegistration | undefined {
  const lm = (vscode as unknown as { lm?: { registerLanguageModelChatProvider?: Register } }).lm;
  const register = lm?.registerLanguageModelChatProvider;
  if (typeof register !== 'function') return undefined;
  const TextPart = (vscode as unknown as { LanguageModelTextPart: new (value: string) => unknown }).LanguageModelTextPart;
  const provider: ChatProvider = {
    async provideLanguageModelChatInformation() {
      const model = backend.lastStatus?.model;
      const maxSeq = model?.maxSeqLen ?? 512;
      const maxOut = getConfig().maxNewTokens;
      return [
        {
          id: 'lavin-local',
          name: `LaVIN (${model?.name ?? 'local'})`,
          family: 'lavin',
          version: '1',
          maxInputTokens: Math.max(1, maxSeq - maxOut),
          maxOutputTokens: maxOut,
          tooltip: 'LaVIN running locally: LLaMA + CLIP with mixture-of-modality adapters',
          detail: 'local',
          capabilities: { imageInput: true, toolCalling: false },
        },
      ];
    },
    async provideLanguageModelChatResponse(_model, messages, _options, progress, token) {
      const streamId = randomUUID();
      const sub = backend.stream(streamId, (t) => {
        if (t.text) progress.report(new TextPart(t.text));
      });
      try {
        registration.lastAnswer = await backend.request(ChatRequest, { messages: toChatMessages(messages), ...samplingFrom(getConfig()), streamId, readImageText: getConfig().readImageText }, token);
      } finally {
        sub.dispose();
      }
    },
    async provideTokenCount(_model, text) {
      // No tokenizer round trip per keystroke: LLaMA's SentencePiece averages about 4 characters a token.
      const s = typeof text === 'string' ? text : toChatMessages([text])[0]?.content ?? '';
      return Math.ceil(s.length / 4);
    },
  };
  const disposable = register('lavin', provider);
  const registration: LanguageModelRegistration = { dispose: () => disposable.dispose() };
  return registration;
}

/** VS Code messages to the backend's: text parts joined, image data parts as base64. */
export function toChatMessages(messages: readonly RequestMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of messages) {
    // LanguageModelChatMessageRole: User = 1, Assistant = 2 (a system role, if any, is sent as user text).
    const role = m.role === 2 ? 'assistant' : 'user';
    let content = '';
    const images: string[] = [];
    for (const part of m.content) {
      const p = part as { value?: unknown; mimeType?: unknown; data?: unknown };
      if (typeof p.value === 'string') content += p.value;
      else if (typeof p.mimeType === 'string' && p.mimeType.startsWith('image/') && p.data instanceof Uint8Array) {
        images.push(Buffer.from(p.data).toString('base64'));
      }
    }
    const msg: ChatMessage = { role, content };
    if (images.length) msg.images = images;
    const last = out[out.length - 1];
    if (last && last.role === role && !last.images && !msg.images) last.content += `\n\n${content}`;
    else out.push(msg);
  }
  return out;
}
