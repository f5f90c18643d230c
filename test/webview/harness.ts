// Serves the real chat webview page (same HTML builder and bundle as the extension) to headless
// Chromium, with a mocked acquireVsCodeApi that records what the page posts.

import * as http from 'http';
import * as fs from 'fs';
import * as path from 'path';
import { AddressInfo } from 'net';
import { chromium, Browser, Page } from 'playwright-core';
import { chatHtml, makeNonce } from '../../extension/chat/html';
import type { FromWebview, ToWebview } from '../../extension/chat/messages';

export const repoRoot = path.resolve(__dirname, '../../..');
const mediaDist = path.join(repoRoot, 'media/dist');

export const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export interface Harness {
  origin: string;
  browser: Browser;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  if (!fs.existsSync(path.join(mediaDist, 'chat.js'))) {
    throw new Error(`media/dist/chat.js is missing: run 'node scripts/package.mjs webview' first`);
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(chatHtml({ cspSource: origin, nonce: makeNonce(), scriptUri: `${origin}/chat.js`, styleUri: `${origin}/chat.css` }));
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end(); // VS Code webviews never ask for one; a 404 would be noise
      return;
    }
    const file = path.join(mediaDist, path.basename(url.pathname));
    if (!fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/css' });
    res.end(fs.readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  return {
    origin,
    browser,
    async close() {
      await browser.close();
      await new Promise((r) => server.close(r));
    },
  };
}

export interface ChatPage {
  page: Page;
  /** Every URL the page requested (must all be on the harness origin). */
  requests: string[];
  /** CSP violations and page errors seen. */
  problems: string[];
  posted(): Promise<FromWebview[]>;
  send(message: ToWebview): Promise<void>;
  waitForPosted(type: FromWebview['type']): Promise<FromWebview>;
}

export async function openChat(h: Harness): Promise<ChatPage> {
  const page = await h.browser.newPage({ viewport: { width: 420, height: 700 } });
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    const w = window as unknown as { __posted: unknown[]; __state: unknown; __csp: string[]; acquireVsCodeApi: unknown };
    w.__posted = [];
    w.__state = undefined;
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    let acquired = false;
    w.acquireVsCodeApi = () => {
      if (acquired) throw new Error('acquireVsCodeApi called twice');
      acquired = true;
      return {
        postMessage: (m: unknown) => w.__posted.push(JSON.parse(JSON.stringify(m))),
        getState: () => w.__state,
        setState: (s: unknown) => (w.__state = s),
      };
    };
  });
  await page.goto(h.origin + '/');
  const chat: ChatPage = {
    page,
    requests,
    problems,
    posted: () => page.evaluate(() => (window as unknown as { __posted: FromWebview[] }).__posted),
    send: (message) => page.evaluate((m) => window.postMessage(m, '*'), message),
    async waitForPosted(type) {
      const handle = await page.waitForFunction(
        (t) => (window as unknown as { __posted: { type: string }[] }).__posted.find((m) => m.type === t),
        type,
        { timeout: 5000 },
      );
      return (await handle.jsonValue()) as FromWebview;
    },
  };
  await chat.waitForPosted('ready');
  return chat;
}

export function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);
}
