#!/usr/bin/env node
// Stands in for the VS Code executable in @vscode/test-electron's contract (`useInstallation.fromPath`
// in .vscode-test.mjs): takes `--extensionDevelopmentPath=… --extensionTestsPath=… [workspace]`, runs
// the extension tests in a real VS Code workbench (code-server + headless Chromium) and exits with
// the tests' exit code. See docs/testing-vscode.md.
//
// While the tests run, a small driver on 127.0.0.1 (its URL in LAVIN_TEST_DRIVER, inherited by the
// extension host) lets tests act on the real UI: POST /screenshot {name, selector?} saves
// .cache/screenshots/<name>.png (npm run screenshots copies the README's into media/); POST /webview {script} runs a function body inside the chat
// webview and returns its JSON result; POST /ui {script} does the same in the workbench page.
//
// Env: CODE_SERVER_DIR (default .cache/code-server), CHROMIUM_PATH (default /usr/bin/chromium),
//      LAVIN_VSCODE_TEST_TIMEOUT seconds (default 900), LAVIN_VSCODE_TEST_HEADED=1 to watch,
//      LAVIN_SCREENSHOT_DIR (default .cache/screenshots: tests never write into the tree), LAVIN_CODE_SERVER_SMOKE_DRIVER=1 for VS Code 1.104+.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { cpSync, readFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { format } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const argv = process.argv.slice(2);
const flag = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const extensionDevelopmentPath = flag('extensionDevelopmentPath');
const extensionTestsPath = flag('extensionTestsPath');
const workspaceArg = argv.find((a) => !a.startsWith('-'));
if (!extensionDevelopmentPath || !extensionTestsPath) {
  console.error('usage: vscode-test-runner --extensionDevelopmentPath=DIR --extensionTestsPath=FILE [workspace]');
  process.exit(2);
}

const codeServerDir = process.env.CODE_SERVER_DIR ?? join(root, '.cache/code-server');
const entry = join(codeServerDir, 'node_modules/code-server/out/node/entry.js');
if (!existsSync(entry)) {
  console.error(`code-server is not installed at ${codeServerDir}: run scripts/install-code-server.sh`);
  process.exit(2);
}
// install-code-server.sh records the Node that this code-server needs (4.104+ need Node 22).
const nodePathFile = join(codeServerDir, 'node-path');
const codeServerNode = existsSync(nodePathFile) ? readFileSync(nodePathFile, 'utf8').trim() : process.execPath;
const timeoutS = Number(process.env.LAVIN_VSCODE_TEST_TIMEOUT ?? 900);
const screenshotsDir = resolve(process.env.LAVIN_SCREENSHOT_DIR ?? join(root, '.cache/screenshots'));
const tmp = mkdtempSync(join(tmpdir(), 'lavin-vscode-test-'));
const logFile = join(root, '.cache/vscode-test/code-server.log');
mkdirSync(dirname(logFile), { recursive: true });

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

let codeServer;
let browser;
let driver;
let finished = false;

async function cleanup() {
  await browser?.close().catch(() => {});
  if (codeServer && codeServer.exitCode === null && codeServer.signalCode === null) {
    const exited = new Promise((r) => codeServer.once('exit', r));
    const killGroup = (signal) => {
      try {
        process.kill(-codeServer.pid, signal); // its process group: server, extension host, backend
      } catch {}
    };
    killGroup('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]))) killGroup('SIGKILL');
    await new Promise((r) => setTimeout(r, 200)); // let the group's last log writes land before removing tmp
  }
  driver?.close();
  rmSync(tmp, { recursive: true, force: true });
}

async function finish(code, why) {
  if (finished) return;
  finished = true;
  if (why) console.error(why);
  await cleanup();
  process.exit(code);
}

process.on('SIGINT', () => finish(130, 'interrupted'));
// Any failure while starting (browser, server) must still end code-server and remove tmp.
process.on('unhandledRejection', (err) => void finish(1, `vscode-test-runner: ${err?.stack ?? err}`));
process.on('uncaughtException', (err) => void finish(1, `vscode-test-runner: ${err?.stack ?? err}`));
process.on('SIGTERM', () => finish(143, 'terminated'));

const port = await freePort();
const origin = `http://127.0.0.1:${port}`;
let page;

// ------------------------------------------------------------------ test driver (UI access for tests)
async function chatFrame() {
  // The webview view is an iframe (index.html) whose inner iframe holds our page.
  for (let attempt = 0; attempt < 100; attempt++) {
    for (const frame of page.frames()) {
      const ok = await frame.evaluate(() => !!document.getElementById('transcript') && !!document.getElementById('composer')).catch(() => false);
      if (ok) return frame;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('chat webview frame not found');
}

function readBody(req) {
  return new Promise((res) => {
    let s = '';
    req.on('data', (d) => (s += d));
    req.on('end', () => res(s ? JSON.parse(s) : {}));
  });
}

driver = createServer(async (req, res) => {
  try {
    const body = await readBody(req);
    let result = null;
    if (req.url === '/screenshot') {
      mkdirSync(screenshotsDir, { recursive: true });
      const file = join(screenshotsDir, `${String(body.name).replace(/[^\w.-]/g, '_')}.png`);
      const target = body.selector ? page.locator(body.selector).first() : page;
      await target.screenshot({ path: file });
      result = file;
    } else if (req.url === '/webview') {
      const frame = await chatFrame();
      result = await frame.evaluate(new Function(`return (async () => { ${body.script} })()`));
    } else if (req.url === '/ui') {
      result = await page.evaluate(new Function(`return (async () => { ${body.script} })()`));
    } else if (req.url === '/keyboard') {
      for (const key of body.keys ?? []) await page.keyboard.press(key);
      if (body.type) await page.keyboard.type(body.type);
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: result ?? null }));
  } catch (err) {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err?.stack ?? err) }));
  }
});
await new Promise((r) => driver.listen(0, '127.0.0.1', r));
const driverUrl = `http://127.0.0.1:${driver.address().port}`;

// ------------------------------------------------------------------ code-server
// Tests may change the workspace (settings, files): they get a throwaway copy of it.
const workspace = workspaceArg ? join(tmp, 'workspace') : undefined;
if (workspaceArg) cpSync(resolve(workspaceArg), workspace, { recursive: true });
const userDataDir = join(tmp, 'user-data');
mkdirSync(join(userDataDir, 'User'), { recursive: true });
writeFileSync(
  join(userDataDir, 'User/settings.json'),
  JSON.stringify({
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'security.workspace.trust.enabled': false,
    'window.restoreWindows': 'none',
    'chat.commandCenter.enabled': false,
    'workbench.colorTheme': 'Default Dark Modern',
    'git.enabled': false,
    'git.openRepositoryInParentFolders': 'never',
  }),
);
writeFileSync(join(tmp, 'config.yaml'), '');
const log = createWriteStream(logFile);
codeServer = spawn(
  codeServerNode,
  [
    entry,
    '--config', join(tmp, 'config.yaml'),
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--user-data-dir', userDataDir,
    '--extensions-dir', join(tmp, 'extensions'),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    // VS Code 1.104+ ignores the test payload unless the smoke-test driver is enabled
    ...(process.env.LAVIN_CODE_SERVER_SMOKE_DRIVER === '1' ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
  ],
  {
    detached: true, // own process group, so cleanup ends the extension host too
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LAVIN_TEST_DRIVER: driverUrl, XDG_CONFIG_HOME: join(tmp, 'xdg-config'), XDG_DATA_HOME: join(tmp, 'xdg-data') },
  },
);
codeServer.stdout.pipe(log);
codeServer.stderr.pipe(log);
codeServer.on('exit', (code, signal) => {
  if (!finished) void finish(1, `code-server exited early (${signal ?? code}); see ${logFile}`);
});

setTimeout(() => void finish(1, `tests did not finish within ${timeoutS} s`), timeoutS * 1000).unref();

for (let i = 0; ; i++) {
  const ok = await fetch(`${origin}/healthz`).then((r) => r.ok).catch(() => false);
  if (ok) break;
  if (i > 600) await finish(1, `code-server did not answer on ${origin} within 60 s; see ${logFile}`);
  await new Promise((r) => setTimeout(r, 100));
}

// ------------------------------------------------------------------ the workbench in Chromium
const remote = (p) => `vscode-remote://127.0.0.1:${port}${resolve(p).split('\\').join('/')}`;
const payload = [
  ['extensionDevelopmentPath', remote(extensionDevelopmentPath)],
  ['extensionTestsPath', remote(extensionTestsPath)],
  ['enableProposedApi', ''],
  ['skipWelcome', 'true'],
  ['skipReleaseNotes', 'true'],
];
const url = `${origin}/?${workspace ? `folder=${encodeURIComponent(resolve(workspace))}&` : 'ew=true&'}payload=${encodeURIComponent(JSON.stringify(payload))}`;

browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: process.env.LAVIN_VSCODE_TEST_HEADED !== '1',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', // playwright gives launch() a fresh profile dir
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
page = await context.newPage();
await page.exposeFunction('codeAutomationLog', (type, args) => {
  // The workbench forwards console calls: printf-style format string first.
  const text = format(...(Array.isArray(args) ? args : [args]));
  (type === 'error' ? process.stderr : process.stdout).write(text.endsWith('\n') ? text : `${text}\n`);
});
await page.exposeFunction('codeAutomationExit', (code) => void finish(Number(code) || 0));
page.on('pageerror', (e) => console.error(`[workbench] ${e.message}`));
console.log(`VS Code ${origin} (code-server) running the tests in ${extensionTestsPath}`);
await page.goto(url);
