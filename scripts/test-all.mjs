// Runs every test suite — what `npm test` and CI run — and ends with one summary line.
//   node's test runner: unit, golden (LAVIN_FIXTURE_DIR), protocol, cli, webview (Chromium)
//   @vscode/test-cli (mocha inside a real VS Code: code-server + Chromium): vscode (code-server 4.100.3,
//   the UI suite) and vscode-latest (code-server 4.139.1, the language model API suite, which 1.100 lacks)
// Expects `npm run build` to have run. Exit code: 0 only if every suite ran and passed.

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

const NODE_SUITES = ['unit', 'golden', 'protocol', 'cli', 'webview'].map((s) => `out/test/${s}/`);
const TAP_FILE = 'out/test-results.tap';

/** Run a command, echoing its output; resolve to its exit code and captured stdout. */
function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });
}

const count = (text, re) => {
  const m = text.match(re);
  return m ? Number(m[1]) : 0;
};

const totals = { passed: 0, failed: 0, skipped: 0 };
const problems = [];

mkdirSync('out', { recursive: true });
console.log(`\n== node test runner: ${NODE_SUITES.join(' ')}`);
const node = await run(process.execPath, [
  '--test',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${TAP_FILE}`,
  ...NODE_SUITES,
]);
const tap = readFileSync(TAP_FILE, 'utf8');
totals.passed += count(tap, /^# pass (\d+)$/m);
totals.failed += count(tap, /^# fail (\d+)$/m) + count(tap, /^# cancelled (\d+)$/m);
totals.skipped += count(tap, /^# skipped (\d+)$/m) + count(tap, /^# todo (\d+)$/m);
if (node.code !== 0) problems.push(`node test runner exited ${node.code}`);

/** One @vscode/test-cli label (.vscode-test.mjs) on the code-server it names, installed first. */
async function vscodeSuite(label, installEnv) {
  console.log(`\n== VS Code integration, ${label} (code-server + Chromium)`);
  const install = await run('bash', ['scripts/install-code-server.sh'], installEnv);
  if (install.code !== 0) {
    problems.push(`code-server install for ${label} failed`);
    totals.failed += 1;
    return;
  }
  const vs = await run(process.execPath, ['node_modules/@vscode/test-cli/out/bin.mjs', '--label', label]);
  const passing = count(vs.out, /(\d+) passing/);
  const failing = count(vs.out, /(\d+) failing/);
  totals.passed += passing;
  totals.failed += failing;
  totals.skipped += count(vs.out, /(\d+) pending/);
  if (vs.code !== 0) {
    problems.push(`vscode-test ${label} exited ${vs.code}`);
    if (failing === 0) totals.failed += 1; // it failed before or around mocha: count the suite itself
  }
  if (passing === 0 && failing === 0) problems.push(`vscode-test ${label} ran no test`);
}

await vscodeSuite('vscode', {});
await vscodeSuite('vscode-latest', { CODE_SERVER_VERSION: '4.139.1', CODE_SERVER_DIR: '.cache/code-server-4.139.1' });

if (problems.length) console.log(`\nproblems: ${problems.join('; ')}`);
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(problems.length || totals.failed ? 1 : 0);
