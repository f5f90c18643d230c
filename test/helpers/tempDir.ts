// Every temporary folder a test makes comes from here and goes when the test process exits
// (node --test runs each file in a process of its own). Before, a full run left over a gigabyte
// of model copies, homes and workspaces in the system's temp folder. LAVIN_KEEP_TEMP=1 keeps them
// for a look after a failure.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const made: string[] = [];

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (made.length === 0 && !process.env.LAVIN_KEEP_TEMP) process.on('exit', removeMade);
  made.push(dir);
  return dir;
}

function removeMade(): void {
  for (const dir of made) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A child still writing there (killed with the run) must not turn a passing run into a failure.
    }
  }
}
