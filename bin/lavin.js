#!/usr/bin/env node
// `lavin` entry point: runs the bundled CLI (dist/cli.js, from `npm run build`), or the tsc output
// (out/server/cli.js) in a checkout that ran only `npx tsc -p .`.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const candidates = [path.join(root, 'dist', 'cli.js'), path.join(root, 'out', 'server', 'cli.js')];
const entry = candidates.find((f) => fs.existsSync(f));
if (!entry) {
  process.stderr.write('lavin: not built yet: run "npm run build" (or "npx tsc -p .") in ' + root + '\n');
  process.exit(1);
}
const cli = require(entry);
const controller = new AbortController();
// First Ctrl-C stops the work cleanly (training keeps its checkpoint); a second one quits at once.
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
});
cli.main(process.argv.slice(2), controller.signal).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err) => {
    process.stderr.write('lavin: internal error: ' + ((err && err.stack) || String(err)) + '\n');
    process.exit(1);
  },
);
