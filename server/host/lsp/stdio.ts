// Serving the protocol on this process's stdin/stdout (the extension's transport).

import { disableNetwork } from '../noNetwork';
import { nodeTrainingPort } from '../trainingPort';
import { startServer } from './server';

export function serveStdio(): void {
  disableNetwork();
  // stdout carries the protocol: anything logged goes to stderr instead.
  console.log = console.info = console.debug = console.error;
  startServer({
    input: process.stdin,
    output: process.stdout,
    training: (dir) => nodeTrainingPort(dir),
    onExit: (code) => process.exit(code),
  });
}
