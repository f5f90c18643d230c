// Talks to scripts/vscode-test-runner.mjs's driver: screenshots and UI access from inside the tests.

import * as http from 'http';

function post<T>(path: string, body: unknown): Promise<T> {
  const base = process.env.LAVIN_TEST_DRIVER;
  if (!base) throw new Error('LAVIN_TEST_DRIVER is not set: run these tests with `npm run test:vscode`');
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => {
        const parsed = JSON.parse(s || '{}') as { result?: T; error?: string };
        if (res.statusCode !== 200) reject(new Error(`driver ${path}: ${parsed.error ?? res.statusCode}`));
        else resolve(parsed.result as T);
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Saves .cache/screenshots/<name>.png of the workbench (or of one element); `npm run screenshots` copies the README's into media/. */
export function screenshot(name: string, selector?: string): Promise<string> {
  return post('/screenshot', { name, selector });
}

/** Runs `script` (an async function body) inside the chat webview's page; returns its result. */
export function inWebview<T>(script: string): Promise<T> {
  return post('/webview', { script });
}

/** Runs `script` in the workbench page. */
export function inWorkbench<T>(script: string): Promise<T> {
  return post('/ui', { script });
}

export function pressKeys(keys: string[], type?: string): Promise<void> {
  return post('/keyboard', { keys, type });
}
