// Runs the real `lavin` entry point (bin/lavin.js) as a child process.

import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FIXTURE_DIR } from '../golden/fixture';
import { tempDir } from '../helpers/tempDir';

/** The repository root (out/test/cli -> ../../..). */
export const REPO = path.join(__dirname, '..', '..', '..');
export const BIN = path.join(REPO, 'bin', 'lavin.js');
export const FIXTURE = FIXTURE_DIR;

export interface LavinRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (for --json runs). */
  events: Array<Record<string, unknown> & { event: string }>;
}

export { tempDir };

export function lavin(args: string[], opts: { cwd?: string; home?: string; timeoutMs?: number } = {}): Promise<LavinRun> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, LAVIN_HOME: opts.home ?? tempDir('lavin-home-') },
      timeout: opts.timeoutMs ?? 60_000,
      maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (err && typeof err.code !== 'number') return reject(err);
      let events: LavinRun['events'] = [];
      if (args.includes('--json')) {
        try {
          events = stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
        } catch (e) {
          return reject(new Error(`--json output is not JSON lines: ${(e as Error).message}\n${stdout}`));
        }
      }
      resolve({ code, stdout, stderr, events });
    });
  });
}
