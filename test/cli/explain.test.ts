// `lavin explain FILE[:START-END]`.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { before, describe, it } from 'node:test';
import { lavin, tempDir } from './runLavin';

describe('lavin explain', () => {
  let file: string;
  before(() => {
    file = path.join(tempDir('lavin-src-'), 'util.ts');
    fs.writeFileSync(file, ['// helpers', 'export function add(a: number, b: number): number {', '  return a + b;', '}', ''].join('\n'));
  });

  it('explains a line range as JSON lines', async () => {
    const r = await lavin(['explain', '--json', '--max-new-tokens', '4', `${file}:2-4`]);
    assert.equal(r.code, 0, r.stderr);
    const done = r.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.equal((done.tokens as number[]).length, 4);
    assert.equal(r.events.filter((e) => e.event === 'token').map((e) => e.text).join(''), done.text);
  });

  it('explains a whole file for people', async () => {
    const r = await lavin(['explain', '--max-new-tokens', '3', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.trim().length > 0);
    assert.match(r.stderr, /text route/);
  });

  it('reports a missing file, a range past the end, and a reversed range', async () => {
    const missing = await lavin(['explain', '--json', '/no/such/file.py:1-2']);
    assert.equal(missing.code, 1);
    assert.match(String(missing.events[0].message), /file \/no\/such\/file\.py does not exist/);
    const past = await lavin(['explain', `${file}:40-50`]);
    assert.equal(past.code, 1);
    assert.match(past.stderr, /has 5 line\(s\); the range starts at line 40/);
    const reversed = await lavin(['explain', `${file}:4-2`]);
    assert.equal(reversed.code, 2);
    assert.match(reversed.stderr, /bad line range/);
  });
});
