// Starts a real backend process (node out/server/main.js --stdio) and connects to it the way the
// extension does, over vscode-jsonrpc on the child's stdio.

import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createMessageConnection, MessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { LavinInitializationOptions } from '../../server/protocol';
import { FIXTURE_DIR } from '../golden/fixture';
import { tempDir } from '../helpers/tempDir';

/** out/test/protocol -> out/server/main.js; LAVIN_SERVER=dist/server.js tests the bundle instead. */
export const SERVER_MAIN = process.env.LAVIN_SERVER ? path.resolve(process.env.LAVIN_SERVER) : path.join(__dirname, '..', '..', 'server', 'main.js');
/** The repository root (out/test/protocol -> ../../..). */
export const REPO = path.join(__dirname, '..', '..', '..');
export const FIXTURE_IMAGE = path.join(FIXTURE_DIR, 'inputs', 'image.png');

export interface ServerHandle {
  child: ChildProcess;
  connection: MessageConnection;
  /** A temporary workspace folder (the server's only workspace root). */
  workspace: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop: () => Promise<void>;
}

export { tempDir };

export function spawnServer(): { child: ChildProcess; workspace: string; home: string } {
  const workspace = tempDir('lavin-ws-');
  const home = tempDir('lavin-home-');
  const child = spawn(process.execPath, [SERVER_MAIN, '--stdio'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LAVIN_HOME: home },
  });
  return { child, workspace, home };
}

export async function startServer(init: LavinInitializationOptions = {}): Promise<ServerHandle> {
  const { child, workspace } = spawnServer();
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  await connection.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    workspaceFolders: [{ uri: `file://${workspace}`, name: 'ws' }],
    capabilities: { window: { workDoneProgress: true } },
    initializationOptions: { threads: 1, ...init },
  });
  await connection.sendNotification('initialized', {});
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await connection.sendRequest('shutdown').catch(() => {});
      await connection.sendNotification('exit').catch(() => {});
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    connection.dispose();
  };
  return { child, connection, workspace, stderr: () => err, exited, stop };
}

export function imageBase64(file = FIXTURE_IMAGE): string {
  return fs.readFileSync(file).toString('base64');
}

/** Rejection of a JSON-RPC request, with its code. */
export async function rpcError(p: Promise<unknown>): Promise<{ code: number; message: string; data?: unknown }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: number; message: string; data?: unknown };
    return { code: err.code, message: err.message, data: err.data };
  }
  throw new Error('expected the request to fail, it succeeded');
}
