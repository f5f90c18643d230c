// Chats and code explanations as prompt bodies, fitted into the model's context. The prompt format
// itself (LaVIN's instruction format, a backbone's chat template) is the engine's
// (engine/sequence.ts): the host counts tokens through the model and never writes it out.
//
// Code attached to a user turn goes inside its text:
//   {text}\n{languageId} code from {fileName}:\n```{languageId}\n{code}\n```
// Too long for the context: whole earlier turns go first (oldest first), then the attached code is
// cut, then the start of the newest message. Every cut is reported as a notice. Context text (e.g.
// read from a screenshot) is kept whole while earlier turns can go, then cut before the code.

import type { PromptBody, Turn } from '../engine/sequence';
import { ChatMessage as ProtocolMessage, CodeContext, LineRange } from '../protocol';

/** What a prompt uses of a chat message (its images go their own way: imageInput.ts). */
export type ChatMessage = Pick<ProtocolMessage, 'role' | 'content' | 'code'>;

/** Tokens the full prompt of a body (with the engine's prefix and format) would take. */
export type TokenCounter = (body: PromptBody) => number;

export interface FittedPrompt {
  body: PromptBody;
  notices: string[];
}

export function formatCode(code: CodeContext): string {
  return `${code.languageId} code from ${code.fileName}:\n\`\`\`${code.languageId}\n${code.text}\n\`\`\``;
}

function instruction(msg: ChatMessage): string {
  return msg.code ? `${msg.content}\n${formatCode(msg.code)}` : msg.content;
}

/** A chat's prompt body: the messages' text with attached code inlined; `messages` must end with a user message. */
export function chatBody(messages: ChatMessage[], context?: string): PromptBody {
  const turns: Turn[] = messages.map((m) => ({ role: m.role, content: m.role === 'user' ? instruction(m) : m.content }));
  return context === undefined ? { kind: 'chat', turns } : { kind: 'chat', turns, context };
}

/** Longest n in [0, max] with ok(n), assuming ok is monotone (true up to some n). */
function largest(max: number, ok: (n: number) => boolean): number {
  let lo = 0;
  let hi = max;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const CUT_MARK = '\n[...]';

/** Fit a chat (and its context text, if any) into `budget` prompt tokens. */
export function fitChat(messages: ChatMessage[], count: TokenCounter, budget: number, context?: string): FittedPrompt {
  const notices: string[] = [];
  let kept = messages;
  let dropped = 0;
  const fits = (m: ChatMessage[], ctx: string | undefined) => count(chatBody(m, ctx)) <= budget;
  while (!fits(kept, context) && kept.length > 1) {
    // Drop a whole exchange: the kept conversation always starts with an instruction.
    do {
      kept = kept.slice(1);
      dropped++;
    } while (kept.length > 1 && kept[0].role === 'assistant');
  }
  if (dropped > 0) notices.push(`The conversation is longer than the model's context: the ${dropped} oldest message(s) were left out.`);
  if (fits(kept, context)) return { body: chatBody(kept, context), notices };

  // One message left and still too long: shorten the context text, then its code, then its text (keeping the end).
  const last = kept[kept.length - 1];
  let ctx = context;
  if (ctx) {
    const full = ctx;
    const cut = (k: number) => full.slice(0, k) + CUT_MARK;
    const n = largest(full.length, (k) => fits([last], cut(k)));
    if (n > 0 && fits([last], cut(n))) {
      notices.push(`The context text was cut to its first ${n} of ${full.length} characters to fit the model's context.`);
      return { body: chatBody([last], cut(n)), notices };
    }
    notices.push("The context text was left out: the message alone fills the model's context.");
    ctx = undefined;
  }
  let code = last.code;
  if (code) {
    const full = code;
    const withCode = (n: number): ChatMessage[] => [{ ...last, code: { ...full, text: full.text.slice(0, n) + CUT_MARK } }];
    const n = largest(full.text.length, (k) => fits(withCode(k), ctx));
    if (n > 0 && fits(withCode(n), ctx)) {
      notices.push(`The attached code was cut to its first ${n} of ${full.text.length} characters to fit the model's context.`);
      return { body: chatBody(withCode(n), ctx), notices };
    }
    notices.push("The attached code was left out: the message alone fills the model's context.");
    code = undefined;
  }
  const text = last.content;
  const tail = (n: number): ChatMessage => ({ ...last, code, content: text.slice(text.length - n) });
  const n = largest(text.length, (k) => fits([tail(k)], ctx));
  notices.push(`The message was cut to its last ${n} of ${text.length} characters to fit the model's context.`);
  return { body: chatBody([tail(n)], ctx), notices };
}

export interface ExplainInput {
  fileName: string;
  languageId: string;
  /** The whole file. */
  text: string;
  /** Lines to explain (0-based, inclusive); default: the whole file. */
  selection?: LineRange;
}

/** Lines of context shown around a selection. */
export const EXPLAIN_CONTEXT_LINES = 5;

export function explainMessage(input: ExplainInput, contextLines = EXPLAIN_CONTEXT_LINES): ChatMessage {
  const lines = input.text.split(/\r?\n/);
  const sel = input.selection ?? { startLine: 0, endLine: lines.length - 1 };
  const start = Math.max(0, sel.startLine);
  const end = Math.min(lines.length - 1, sel.endLine);
  const selected = lines.slice(start, end + 1).join('\n');
  const before = lines.slice(Math.max(0, start - contextLines), start).join('\n');
  const after = lines.slice(end + 1, end + 1 + contextLines).join('\n');
  const fence = (s: string) => `\`\`\`${input.languageId}\n${s}\n\`\`\``;
  let content = `Explain what the selected ${input.languageId} code from ${input.fileName} (lines ${start + 1}-${end + 1}) does.`;
  if (before) content += `\nCode before the selection:\n${fence(before)}`;
  if (after) content += `\nCode after the selection:\n${fence(after)}`;
  content += '\nSelected code:';
  return { role: 'user', content, code: { fileName: input.fileName, languageId: input.languageId, text: selected } };
}

/** The explain prompt, with less surrounding code (then a cut selection) when the context is short. */
export function fitExplain(input: ExplainInput, count: TokenCounter, budget: number): FittedPrompt {
  for (let ctx = EXPLAIN_CONTEXT_LINES; ctx >= 0; ctx--) {
    const body = chatBody([explainMessage(input, ctx)]);
    if (count(body) <= budget) {
      const notices = ctx < EXPLAIN_CONTEXT_LINES ? [`Surrounding code was reduced to ${ctx} line(s) on each side to fit the model's context.`] : [];
      return { body, notices };
    }
  }
  return fitChat([explainMessage(input, 0)], count, budget);
}
