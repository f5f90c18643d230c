// Activation only wires the pieces together; each lives in its own file.

import * as vscode from 'vscode';
import { Backend, errorMessage } from './backend';
import { affectsBackend, readConfig } from './config';
import { StatusBar } from './statusBar';
import { CHAT_VIEW_ID, ChatViewProvider } from './chat/chatViewProvider';
import { LanguageModelRegistration, registerLanguageModel } from './languageModel';
import { explainSelection } from './commands/explainSelection';
import { askAboutImage } from './commands/askAboutImage';
import { fineTune, FineTuneOptions } from './commands/fineTune';
import { selectModel, SelectModelOptions } from './commands/selectModel';
import { selectAdapterSet } from './commands/selectAdapterSet';
import { trainVision, TrainVisionOptions } from './commands/trainVision';
import { exportAdapterSetCommand, ExportOptions, importAdapterSetCommand, ImportOptions } from './commands/adapterSetFiles';
import { restartBackend } from './commands/restartBackend';
import { showLogs } from './commands/showLogs';
import { quickMenu } from './commands/quickMenu';
import { LoadModelRequest } from '../server/protocol';

/** What activate() returns: used by the integration tests (and by other extensions, if they like). */
export interface LavinApi {
  backend: Backend;
  chat: ChatViewProvider;
  statusBar: StatusBar;
  log: vscode.LogOutputChannel;
  languageModelRegistered: boolean;
  languageModel?: LanguageModelRegistration;
}

let backend: Backend | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<LavinApi> {
  const log = vscode.window.createOutputChannel('LaVIN', { log: true });
  backend = new Backend(context, log, readConfig);
  const chat = new ChatViewProvider(context, backend, readConfig, log);
  const statusBar = new StatusBar(backend);
  const lm = registerLanguageModel(backend, readConfig);
  log.info(lm ? 'Registered LaVIN as a VS Code language model' : 'This VS Code has no language model provider API; skipped');
  const b = backend;

  context.subscriptions.push(
    log,
    backend,
    chat,
    statusBar,
    ...(lm ? [lm] : []),
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, chat, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.commands.registerCommand('lavin.explainSelection', () => explainSelection(chat)),
    vscode.commands.registerCommand('lavin.askAboutImage', (uri?: vscode.Uri, uris?: vscode.Uri[], question?: string) =>
      askAboutImage(chat, uri instanceof vscode.Uri ? uri : undefined, Array.isArray(uris) ? uris : undefined, question),
    ),
    vscode.commands.registerCommand('lavin.fineTune', (options?: FineTuneOptions) => fineTune(b, readConfig(), options)),
    vscode.commands.registerCommand('lavin.selectModel', (options?: SelectModelOptions) => selectModel(b, readConfig(), options)),
    vscode.commands.registerCommand('lavin.selectAdapterSet', () => selectAdapterSet(b)),
    vscode.commands.registerCommand('lavin.trainVision', (options?: TrainVisionOptions) => trainVision(b, options)),
    vscode.commands.registerCommand('lavin.exportAdapterSet', (options?: ExportOptions) => exportAdapterSetCommand(b, options)),
    vscode.commands.registerCommand('lavin.importAdapterSet', (options?: ImportOptions) => importAdapterSetCommand(b, options)),
    vscode.commands.registerCommand('lavin.restartBackend', () => restartBackend(b)),
    vscode.commands.registerCommand('lavin.showLogs', () => showLogs(log)),
    vscode.commands.registerCommand('lavin.newChat', () => chat.newChat()),
    vscode.commands.registerCommand('lavin.quickMenu', () => quickMenu()),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!affectsBackend(e) || b.state !== 'running') return;
      const c = readConfig();
      const dir = c.modelFolder || b.embeddedModelDir();
      const onlyFolder = !e.affectsConfiguration('lavin.device') && !e.affectsConfiguration('lavin.precision');
      if (onlyFolder && b.lastStatus?.model?.dir === dir) return; // Select Model already loaded it
      try {
        await b.request(LoadModelRequest, { dir, device: c.device, precision: c.precision === 'auto' ? undefined : c.precision });
      } catch (err) {
        log.error(`Reloading the model after a settings change failed: ${errorMessage(err)}`);
        void vscode.window.showErrorMessage(`LaVIN: could not load the model with the new settings: ${errorMessage(err)}`);
      }
    }),
  );

  // The backend starts in the background: the UI is usable at once and shows its state.
  backend.start().catch((err) => {
    void vscode.window.showErrorMessage(`LaVIN: the backend did not start: ${errorMessage(err)}`, 'Show Logs').then((c) => c && log.show());
  });

  return { backend, chat, statusBar, log, languageModelRegistered: !!lm, languageModel: lm };
}

export async function deactivate(): Promise<void> {
  await backend?.stop();
  backend = undefined;
}
