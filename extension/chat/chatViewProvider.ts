// The side-panel chat: a webview view whose messages become backend chat/explain requests, with
// the answer streamed back token by token.

import * as vscode from 'vscode';
import { randomUUID } from 'crypto';
import { ResponseError } from 'vscode-languageclient';
import {
  AnswerResult,
  ChatRequest,
  CodeContext,
  ExplainParams,
  ExplainRequest,
  LavinErrorCodes,
} from '../../server/protocol';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';
import { LavinConfig, samplingFrom } from '../config';
import { chatHtml, makeNonce } from './html';
import { ChatHistory, StoredTurn } from './history';
import type { ChatImage, FromWebview, RawImage, ToWebview } from './messages';
import { pickImageFiles } from '../imagePicker';

export const CHAT_VIEW_ID = 'lavin.chatView';

export interface AnswerEvent {
  turn: StoredTurn;
  result?: AnswerResult;
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private ready = false;
  private readonly readyWaiters: (() => void)[] = [];
  private readonly history: ChatHistory;
  private running: { answerId: string; cancel: vscode.CancellationTokenSource } | undefined;
  private readonly answerEmitter = new vscode.EventEmitter<AnswerEvent>();
  /** Fires when an answer finishes (done, stopped or failed). */
  readonly onDidFinishAnswer = this.answerEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly backend: Backend,
    private readonly getConfig: () => LavinConfig,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.history = new ChatHistory(context.workspaceState);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const mediaRoot = vscode.Uri.joinPath(this.context.extensionUri, 'media', 'dist');
    view.webview.options = { enableScripts: true, localResourceRoots: [mediaRoot] };
    view.webview.html = chatHtml({
      cspSource: view.webview.cspSource,
      nonce: makeNonce(),
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'chat.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'chat.css')).toString(),
    });
    view.webview.onDidReceiveMessage((m: FromWebview) => this.onMessage(m).catch((err) => this.log.error(`Chat: ${errorMessage(err)}`)));
    view.onDidDispose(() => {
      this.view = undefined;
      this.ready = false;
    });
  }

  /** The conversation so far (tests read it). */
  turns(): readonly StoredTurn[] {
    return this.history.all();
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Shows the side panel and waits until its page is listening. */
  async reveal(): Promise<void> {
    if (!this.view) await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
    else this.view.show(true);
    if (this.ready) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('The LaVIN chat view did not open within 20 s')), 20_000);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Puts images (and a question) into the composer; with `submit` the question is sent at once. */
  async compose(images: RawImage[], text?: string, submit = false): Promise<void> {
    await this.reveal();
    this.post({ type: 'compose', images, text, submit });
  }

  /** Explain a range of a document in the panel (the server adds the surrounding code). */
  async explain(document: vscode.TextDocument, selection: vscode.Range): Promise<void> {
    await this.reveal();
    const startLine = selection.start.line;
    const endLine = selection.end.character === 0 && selection.end.line > startLine ? selection.end.line - 1 : selection.end.line;
    const fileName = vscode.workspace.asRelativePath(document.uri, false);
    const code: CodeContext = {
      fileName,
      languageId: document.languageId,
      text: document.getText(new vscode.Range(startLine, 0, endLine, Number.MAX_SAFE_INTEGER)),
    };
    const label = startLine === endLine ? `${fileName}:${startLine + 1}` : `${fileName}:${startLine + 1}-${endLine + 1}`;
    const user: StoredTurn = { id: randomUUID(), role: 'user', text: `Explain this ${document.languageId} code.`, label, code };
    const params: ExplainParams = {
      path: document.uri.scheme === 'file' ? document.uri.fsPath : fileName,
      text: document.getText(),
      languageId: document.languageId,
      selection: { startLine, endLine },
    };
    await this.ask(user, (streamId, sampling, token) => this.backend.request(ExplainRequest, { ...params, ...sampling, streamId }, token));
  }

  private async onMessage(m: FromWebview): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.post({ type: 'state', turns: this.history.all(), busy: this.busy });
        for (const w of this.readyWaiters.splice(0)) w();
        break;
      case 'send':
        await this.send(m.text, m.images);
        break;
      case 'stop':
        this.stop();
        break;
      case 'newChat':
        this.newChat();
        break;
      case 'pickImage': {
        const images = await pickImageFiles();
        if (images.length) this.post({ type: 'compose', images });
        break;
      }
      case 'copyCode':
        await vscode.env.clipboard.writeText(m.code);
        break;
      case 'insertCode':
        await insertAtCursor(m.code);
        break;
      case 'webviewError':
        this.log.error(`Chat view: ${m.message}`);
        break;
    }
  }

  async send(text: string, images: ChatImage[]): Promise<void> {
    const user: StoredTurn = { id: randomUUID(), role: 'user', text: text || (images.length ? 'What is in this image?' : ''), images };
    await this.ask(user, (streamId, sampling, token) =>
      this.backend.request(ChatRequest, { messages: this.history.toMessages(), ...sampling, streamId, readImageText: this.getConfig().readImageText }, token),
    );
  }

  stop(): void {
    this.running?.cancel.cancel();
  }

  newChat(): void {
    this.stop();
    this.history.clear();
    this.post({ type: 'state', turns: [], busy: this.busy });
  }

  private async ask(
    user: StoredTurn,
    run: (streamId: string, sampling: ReturnType<typeof samplingFrom>, token: vscode.CancellationToken) => Promise<AnswerResult>,
  ): Promise<void> {
    if (this.running) {
      void vscode.window.showInformationMessage('LaVIN is still answering; press Stop first.');
      return;
    }
    const config = this.getConfig();
    this.history.add(user);
    this.post({ type: 'turn', turn: this.history.get(user.id)! });
    const answer: StoredTurn = { id: randomUUID(), role: 'assistant', text: '', streaming: true };
    this.history.add(answer);
    this.post({ type: 'turn', turn: answer });
    const cancel = new vscode.CancellationTokenSource();
    this.running = { answerId: answer.id, cancel };
    this.post({ type: 'busy', busy: true });

    let text = '';
    const stream = this.backend.stream(answer.id, (t) => {
      text += t.text;
      this.post({ type: 'token', id: answer.id, text: t.text });
    });
    let timedOut = false;
    const timer =
      config.requestTimeout > 0
        ? setTimeout(() => {
            timedOut = true;
            cancel.cancel();
          }, config.requestTimeout * 1000)
        : undefined;
    let result: AnswerResult | undefined;
    let change: Partial<StoredTurn>;
    try {
      result = await run(answer.id, samplingFrom(config), cancel.token);
      if (result.imageLines) {
        const asked = this.history.update(user.id, { imageLines: result.imageLines });
        if (asked) this.post({ type: 'turn', turn: asked });
      }
      change = {
        seen: result.route === 'image' ? { visualTokens: result.visualTokens, textLines: result.imageLines ? countLines(result.imageText) : undefined } : undefined,
        text: result.text,
        route: result.route,
        routerWeights: result.routerWeights,
        notices: timedOut ? [...result.notices, `Stopped after the ${config.requestTimeout} s request timeout.`] : result.notices,
        stats: {
          tokens: result.tokens.length,
          tokensPerSecond: result.timings.decodeTokensPerSecond,
          stopReason: result.stopReason,
          firstTokenMs: (result.imageTextMs ?? 0) + result.timings.queuedMs + result.timings.visionMs + result.timings.prefillMs,
          promptTokens: result.promptTokens,
          reusedPromptTokens: result.reusedPromptTokens,
        },
      };
    } catch (err) {
      if (cancel.token.isCancellationRequested) {
        change = {
          text,
          notices: [timedOut ? `Stopped after the ${config.requestTimeout} s request timeout.` : 'Stopped.'],
        };
      } else {
        change = { text, error: describeError(err) };
        this.log.error(`Chat request failed: ${errorMessage(err)}`);
      }
    } finally {
      clearTimeout(timer);
      stream.dispose();
      cancel.dispose();
      this.running = undefined;
    }
    const done = this.history.update(answer.id, { ...change, streaming: false })!;
    this.post({ type: 'done', turn: done });
    this.post({ type: 'busy', busy: false });
    this.answerEmitter.fire({ turn: done, result });
  }

  private post(message: ToWebview): void {
    if (this.view && this.ready) void this.view.webview.postMessage(message);
  }

  dispose(): void {
    this.stop();
    this.answerEmitter.dispose();
  }
}

/** Lines of read text the model was given (the cut mark, when present, is not a line read). */
function countLines(text: string | undefined): number {
  if (!text) return 0;
  return text.split('\n').filter((l) => !/^\[\.\.\. \d+ more line/.test(l)).length;
}

function describeError(err: unknown): string {
  if (err instanceof ResponseError) {
    if (err.code === LavinErrorCodes.Busy) return `The model is busy (${err.message}). Try again when it finishes.`;
    if (err.code === LavinErrorCodes.NoModel) return `No model is loaded: ${err.message}. Use "LaVIN: Select Model".`;
    return err.message;
  }
  return errorMessage(err);
}

async function insertAtCursor(code: string): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor) {
    void vscode.window.showWarningMessage('Open an editor to insert the code into.');
    return;
  }
  await editor.edit((edit) => {
    for (const s of editor.selections) edit.replace(s, code);
  });
}
