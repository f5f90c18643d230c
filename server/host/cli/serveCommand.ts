// `lavin serve --stdio`: the language-server backend the VS Code extension starts.

import { serveStdio } from '../lsp/stdio';
import { CliCommand } from './command';
import { UsageError } from './usage';

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the backend the VS Code extension talks to (LSP JSON-RPC over stdin/stdout)',
  synopsis: '--stdio',
  options: {
    stdio: { type: 'boolean', help: 'speak JSON-RPC on stdin/stdout (the only transport; required)' },
  },
  notes: ['The extension starts this itself; run it by hand only to debug the protocol. It runs until stdin closes.'],
  examples: ['lavin serve --stdio'],
  async run({ values }) {
    if (!values.stdio) throw new UsageError('serve needs --stdio (the only transport)');
    serveStdio();
    await new Promise<never>(() => {});
  },
};
