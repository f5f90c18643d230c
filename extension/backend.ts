// Starts, watches and restarts the LaVIN backend (server/main.ts) as a language server over stdio.
// A crash restarts it (with a visible notice and a log line) unless it keeps crashing.

import * as vscode from 'vscode';
import * as fs from 'fs';
import { spawn, ChildProcess } from 'child_process';
import {
  CloseAction,
  CloseHandlerResult,
  ErrorAction,
  ErrorHandlerResult,
  LanguageClient,
  LanguageClientOptions,
  State,
} from 'vscode-languageclient/node';
import type { CancellationToken, NotificationType, RequestParam, RequestType, RequestType0 } from 'vscode-languageclient';
import {
  LavinInitializationOptions,
  LoadModelRequest,
  StatusChangedNotification,
  StatusRequest,
  StatusResult,
  TokenNotification,
  TokenNotificationParams,
  TrainImageTextNotification,
  TrainImageTextParams,
  TrainPreparingNotification,
  TrainPreparingParams,
  TrainProgressNotification,
  TrainProgressParams,
  ActivateAdapterSetRequest,
} from '../server/protocol';
import { LavinConfig } from './config';

export type BackendState = 'stopped' | 'starting' | 'running' | 'crashed';

/** How many crashes within CRASH_WINDOW_MS are restarted before giving up. */
const MAX_RESTARTS = 4;
const CRASH_WINDOW_MS = 3 * 60_000;

export class Backend implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private child: ChildProcess | undefined;
  private stopping = false;
  private crashes: number[] = [];
  private readonly streams = new Map<string, (p: TokenNotificationParams) => void>();
  private readonly disposables: vscode.Disposable[] = [];

  private readonly stateEmitter = new vscode.EventEmitter<BackendState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly statusEmitter = new vscode.EventEmitter<StatusResult>();
  readonly onDidChangeStatus = this.statusEmitter.event;
  private readonly tokenEmitter = new vscode.EventEmitter<TokenNotificationParams>();
  readonly onToken = this.tokenEmitter.event;
  private readonly trainEmitter = new vscode.EventEmitter<TrainProgressParams>();
  readonly onTrainProgress = this.trainEmitter.event;
  private readonly trainImageTextEmitter = new vscode.EventEmitter<TrainImageTextParams>();
  /** Before a run's first step: its images' text being read. */
  readonly onTrainImageText = this.trainImageTextEmitter.event;
  private readonly trainPreparingEmitter = new vscode.EventEmitter<TrainPreparingParams>();
  /** Then a fresh vision set's images being measured for its start. */
  readonly onTrainPreparing = this.trainPreparingEmitter.event;

  state: BackendState = 'stopped';
  lastStatus: StatusResult | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly getConfig: () => LavinConfig,
  ) {}

  /** The backend's process id (tests kill it to check the restart). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The script the backend runs: the bundle in a packaged extension, tsc output in a checkout. */
  serverModule(): string {
    // Developers can point at another build of the backend (e.g. out/server/main.js while dist/ is stale).
    const override = process.env.LAVIN_SERVER_MODULE;
    if (override) {
      if (!fs.existsSync(override)) throw new Error(`LAVIN_SERVER_MODULE=${override} does not exist`);
      return override;
    }
    for (const rel of ['dist/server.js', 'out/server/main.js']) {
      const p = this.context.asAbsolutePath(rel);
      if (fs.existsSync(p)) return p;
    }
    throw new Error(`LaVIN backend not found: neither dist/server.js nor out/server/main.js exists in ${this.context.extensionPath}`);
  }

  embeddedModelDir(): string {
    return this.context.asAbsolutePath('models/lavin-tiny');
  }

  adapterSetsDir(): string {
    return vscode.Uri.joinPath(this.context.globalStorageUri, 'adapter-sets').fsPath;
  }

  async start(): Promise<void> {
    if (this.client) return;
    const config = this.getConfig();
    const module = this.serverModule();
    this.stopping = false;
    this.setState('starting');
    this.log.info(`Starting backend: ${module}`);

    const initializationOptions: LavinInitializationOptions = {
      modelDir: config.modelFolder || this.embeddedModelDir(),
      ...(config.clipFile ? { clip: config.clipFile } : {}),
      device: config.device,
      adapterSetsDir: this.adapterSetsDir(),
      packedWeights: config.savePackedWeights,
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [],
      outputChannel: this.log,
      initializationOptions,
      errorHandler: {
        error: (error, _message, count): ErrorHandlerResult => {
          this.log.error(`Backend connection error: ${error.message}`);
          return { action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true };
        },
        closed: (): CloseHandlerResult => this.onClosed(),
      },
    };
    const client = new LanguageClient('lavin', 'LaVIN backend', () => this.spawnServer(module), clientOptions);
    this.client = client;
    this.disposables.push(
      client.onNotification(StatusChangedNotification, (s) => this.setStatus(s)),
      client.onNotification(TokenNotification, (t) => {
        this.streams.get(t.streamId)?.(t);
        this.tokenEmitter.fire(t);
      }),
      client.onNotification(TrainProgressNotification, (p) => this.trainEmitter.fire(p)),
      client.onNotification(TrainImageTextNotification, (p) => this.trainImageTextEmitter.fire(p)),
      client.onNotification(TrainPreparingNotification, (p) => this.trainPreparingEmitter.fire(p)),
      client.onDidChangeState((e) => {
        if (e.newState === State.Running) {
          this.setState('running');
          void this.afterStart();
        }
      }),
    );
    try {
      await client.start();
    } catch (err) {
      this.setState('crashed');
      this.log.error(`Backend failed to start: ${errorMessage(err)}`);
      throw err;
    }
  }

  private spawnServer(module: string): Promise<ChildProcess> {
    // ELECTRON_RUN_AS_NODE lets desktop VS Code's Electron binary act as Node; code-server runs on Node.
    const child = spawn(process.execPath, [module, '--stdio'], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.log.info(`Backend process ${child.pid} started`);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split(/\r?\n/)) if (line.trim()) this.log.info(`[backend] ${line}`);
    });
    child.on('exit', (code, signal) => {
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (this.stopping) this.log.info(`Backend process ${child.pid} stopped (${how})`);
      else this.log.error(`Backend process ${child.pid} ended unexpectedly (${how})`);
    });
    return Promise.resolve(child);
  }

  /** Status, plus the settings that need a loaded model, once the server answers. */
  private async afterStart(): Promise<void> {
    try {
      const config = this.getConfig();
      if (config.precision !== 'auto') {
        await this.request(LoadModelRequest, {
          dir: config.modelFolder || this.embeddedModelDir(),
          ...(config.clipFile ? { clip: config.clipFile } : {}),
          device: config.device,
          precision: config.precision,
        });
      }
      if (config.adapterSet) await this.request(ActivateAdapterSetRequest, { name: config.adapterSet });
      this.setStatus(await this.request0(StatusRequest));
    } catch (err) {
      this.log.warn(`Backend status after start failed: ${errorMessage(err)}`);
    }
  }

  private onClosed(): CloseHandlerResult {
    if (this.stopping) return { action: CloseAction.DoNotRestart, handled: true };
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    this.setState('crashed');
    if (this.crashes.length <= MAX_RESTARTS) {
      this.log.warn(`Backend stopped unexpectedly; restarting (crash ${this.crashes.length} of ${MAX_RESTARTS} allowed in 3 minutes)`);
      void vscode.window
        .showWarningMessage('The LaVIN backend stopped unexpectedly and is being restarted.', 'Show Logs')
        .then((choice) => choice && this.log.show());
      this.setState('starting');
      return { action: CloseAction.Restart, handled: true };
    }
    this.log.error(`Backend crashed ${this.crashes.length} times in 3 minutes; not restarting`);
    void vscode.window
      .showErrorMessage('The LaVIN backend keeps crashing and was not restarted.', 'Restart Backend', 'Show Logs')
      .then((choice) => {
        if (choice === 'Restart Backend') void this.restart();
        else if (choice === 'Show Logs') this.log.show();
      });
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.stopping = true;
    this.client = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
    try {
      if (client.state !== State.Stopped) await client.stop(5000);
    } catch (err) {
      this.log.warn(`Backend did not stop cleanly: ${errorMessage(err)}`);
      this.child?.kill();
    }
    this.child = undefined;
    this.setState('stopped');
  }

  async restart(): Promise<void> {
    this.log.info('Restarting backend');
    this.crashes = [];
    await this.stop();
    await this.start();
  }

  private running(): LanguageClient {
    if (!this.client) throw new Error('The LaVIN backend is not running (use "LaVIN: Restart Backend")');
    return this.client;
  }

  async request<P, R>(type: RequestType<P, R, void>, params: P, token?: CancellationToken): Promise<R> {
    const client = this.running();
    if (client.state === State.Starting) await waitForRunning(client);
    return client.sendRequest(type, params as RequestParam<P>, token);
  }

  async request0<R>(type: RequestType0<R, void>, token?: CancellationToken): Promise<R> {
    const client = this.running();
    if (client.state === State.Starting) await waitForRunning(client);
    return client.sendRequest(type, token);
  }

  notify<P>(type: NotificationType<P>, params: P): Promise<void> {
    return this.running().sendNotification(type, params as RequestParam<P>);
  }

  /** Routes `lavin/token` notifications with this stream id to `onToken` until disposed. */
  stream(streamId: string, onToken: (p: TokenNotificationParams) => void): vscode.Disposable {
    this.streams.set(streamId, onToken);
    return new vscode.Disposable(() => this.streams.delete(streamId));
  }

  private setState(state: BackendState): void {
    if (this.state === state) return;
    this.state = state;
    this.stateEmitter.fire(state);
  }

  private setStatus(status: StatusResult): void {
    this.lastStatus = status;
    this.statusEmitter.fire(status);
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
    this.statusEmitter.dispose();
    this.tokenEmitter.dispose();
    this.trainEmitter.dispose();
    this.trainImageTextEmitter.dispose();
    this.trainPreparingEmitter.dispose();
  }
}

function waitForRunning(client: LanguageClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const sub = client.onDidChangeState((e) => {
      if (e.newState === State.Running) {
        sub.dispose();
        resolve();
      } else if (e.newState === State.Stopped || e.newState === State.StartFailed) {
        sub.dispose();
        reject(new Error('The LaVIN backend stopped while starting'));
      }
    });
  });
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
