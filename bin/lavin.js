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
require(entry).runProcess();
