// The LaVIN Code backend entry point: a language-server-style JSON-RPC server on stdin/stdout.
//   node out/server/main.js --stdio   (bundled: node dist/server.js --stdio; or: lavin serve --stdio)

import { serveStdio } from './host/lsp/stdio';

if (!process.argv.slice(2).includes('--stdio')) {
  process.stderr.write('usage: node out/server/main.js --stdio\n');
  process.exit(2);
}
serveStdio();
