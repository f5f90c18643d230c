// The status bar item: backend and model state at a glance; a click opens the LaVIN quick menu.

import * as vscode from 'vscode';
import type { StatusResult, TrainProgressParams } from '../server/protocol';
import type { Backend, BackendState } from './backend';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  /** Arrival times of recent tokens, for the tok/s figure. */
  private tokenTimes: number[] = [];
  private train: TrainProgressParams | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(private readonly backend: Backend) {
    this.item = vscode.window.createStatusBarItem('lavin.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'LaVIN';
    this.item.command = 'lavin.quickMenu';
    this.disposables.push(
      backend.onDidChangeState(() => this.render()),
      backend.onDidChangeStatus((s) => {
        if (s.activity !== 'generating') this.tokenTimes = [];
        if (s.activity !== 'training') this.train = undefined;
        this.render();
      }),
      backend.onToken(() => {
        this.tokenTimes.push(Date.now());
        this.scheduleRender();
      }),
      backend.onTrainProgress((p) => {
        this.train = p;
        this.render();
      }),
    );
    this.render();
    this.item.show();
  }

  /** Text currently shown (tests read it). */
  get text(): string {
    return this.item.text;
  }

  private scheduleRender(): void {
    this.refreshTimer ??= setTimeout(() => {
      this.refreshTimer = undefined;
      this.render();
    }, 250);
  }

  private tokensPerSecond(): number {
    const now = Date.now();
    this.tokenTimes = this.tokenTimes.filter((t) => now - t < 3000);
    if (this.tokenTimes.length < 2) return 0;
    const span = (now - this.tokenTimes[0]) / 1000;
    return span > 0 ? this.tokenTimes.length / span : 0;
  }

  render(): void {
    const { text, tooltip, warn } = describe(this.backend.state, this.backend.lastStatus, this.tokensPerSecond(), this.train);
    this.item.text = text;
    this.item.tooltip = new vscode.MarkdownString(`${tooltip}\n\nClick for LaVIN actions.`);
    this.item.backgroundColor = warn ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    for (const d of this.disposables) d.dispose();
    this.item.dispose();
  }
}

/** Pure: what the item says for a given state (kept apart so it is easy to read and test). */
export function describe(
  state: BackendState,
  status: StatusResult | undefined,
  tokensPerSecond: number,
  train: TrainProgressParams | undefined,
): { text: string; tooltip: string; warn: boolean } {
  if (state === 'starting') return { text: '$(sync~spin) LaVIN: starting', tooltip: 'Starting the LaVIN backend', warn: false };
  if (state === 'crashed') return { text: '$(error) LaVIN: backend stopped', tooltip: 'The backend stopped; see the LaVIN log', warn: true };
  if (state === 'stopped') return { text: '$(circle-slash) LaVIN: off', tooltip: 'The backend is not running', warn: false };
  const model = status?.model ? `${status.model.name} on ${status.model.deviceNote ?? status.model.device} (${status.model.precision})` : 'no model loaded yet (loads on first use)';
  // Which execution provider runs the model, in the text itself: a CPU fallback is not silent.
  const on = status?.model ? ` · ${status.model.device}` : '';
  const adapters = status?.adapterSet ? `adapter set **${status.adapterSet}**` : 'built-in adapters';
  const tooltip = `**LaVIN** — ${model}, ${adapters}`;
  switch (status?.activity) {
    case 'loading':
      return { text: '$(sync~spin) LaVIN: loading', tooltip, warn: false };
    case 'converting':
      return { text: '$(sync~spin) LaVIN: converting', tooltip, warn: false };
    case 'generating':
      return { text: `$(pulse) LaVIN: generating ${tokensPerSecond.toFixed(1)} tok/s${on}`, tooltip, warn: false };
    case 'training': {
      const step = train ? `step ${train.step}/${train.totalSteps}` : 'starting';
      return { text: `$(beaker) LaVIN: training ${step}`, tooltip, warn: false };
    }
    default:
      return status?.model
        ? { text: `$(check) LaVIN: ready${on}`, tooltip, warn: false }
        : { text: '$(circle-outline) LaVIN: idle', tooltip, warn: false };
  }
}
