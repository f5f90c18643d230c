// How the CLI talks: one JSON object per line (--json) or text for people, with a progress bar
// on stderr for long work.

export type CliEvent =
  | { event: 'token'; text: string }
  | { event: 'done'; text: string; tokens: number[]; [extra: string]: unknown }
  | { event: 'notice'; message: string }
  | { event: 'logits'; index: number; top: { id: number; logit: number }[] }
  | { event: 'step'; step: number; loss: number; [extra: string]: unknown }
  | { event: 'saved'; path: string; [extra: string]: unknown }
  | { event: 'progress'; message: string; percentage: number; [extra: string]: unknown }
  | { event: 'preview'; samples: number; [extra: string]: unknown }
  | { event: 'data'; samples: number; skipped: { where: string; reason: string }[] }
  | { event: 'adapters'; store: string; active: string | null; sets: unknown[] }
  | { event: 'exported'; name: string; file: string; [extra: string]: unknown }
  | { event: 'imported'; name: string; path: string; [extra: string]: unknown }
  | { event: 'models'; models: unknown[]; [extra: string]: unknown }
  | { event: 'tokens'; ids: number[] }
  | { event: 'lines'; lines: unknown[] }
  | { event: 'error'; message: string };

export class CliOutput {
  private barShown = false;

  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  ) {}

  event(e: CliEvent): void {
    if (this.json) this.stdout.write(JSON.stringify(e) + '\n');
  }

  /** Answer text as it streams (human mode). */
  text(s: string): void {
    if (!this.json) this.stdout.write(s);
  }

  /** A line for people, on stderr so stdout stays the answer. */
  info(line: string): void {
    if (this.json) return;
    this.clearBar();
    this.stderr.write(line + '\n');
  }

  error(message: string): void {
    if (this.json) this.event({ event: 'error', message });
    else {
      this.clearBar();
      this.stderr.write(`lavin: error: ${message}\n`);
    }
  }

  /** A progress bar that redraws in place on a terminal; on a pipe, a line per 10% step. */
  progress(label: string, fraction: number, detail = ''): void {
    if (this.json) return;
    const pct = Math.max(0, Math.min(1, fraction));
    if (this.stderr.isTTY) {
      const width = 24;
      const filled = Math.round(pct * width);
      this.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(pct * 100).toFixed(0).padStart(3)}% ${detail}\x1b[K`);
      this.barShown = true;
    } else {
      const decile = Math.floor(pct * 10);
      if (decile !== this.lastDecile) {
        this.lastDecile = decile;
        this.stderr.write(`${label} ${(pct * 100).toFixed(0)}% ${detail}\n`);
      }
    }
  }

  private lastDecile = -1;

  endProgress(): void {
    this.clearBar();
    this.lastDecile = -1;
  }

  private clearBar(): void {
    if (this.barShown) {
      this.stderr.write('\r\x1b[K');
      this.barShown = false;
    }
  }
}
