// `npm run check:gpu` on a machine without a usable GPU provider: one clear line, exit 0, no results file.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { usableProviders } from '../../bench/checkGpu';

const REPO = path.join(__dirname, '..', '..', '..');

test('check:gpu says why no GPU provider is usable and exits 0', async (t) => {
  if ((await usableProviders(false)).some((p) => !p.problem)) return t.skip('a GPU provider is usable here: npm run check:gpu runs the real check');
  const before = new Set(fs.readdirSync(path.join(REPO, 'bench', 'results')));
  const r = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'out', 'bench', 'checkGpu.js')], { timeout: 60_000 }, (err, stdout) => resolve({ code: err ? Number(err.code) : 0, stdout }));
  });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^check:gpu: no GPU provider is usable here, nothing to check \(cuda: .+; webgpu: .+\)\n$/);
  assert.deepEqual(fs.readdirSync(path.join(REPO, 'bench', 'results')).filter((f) => !before.has(f)), []);
});
