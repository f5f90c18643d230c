// `lavin explain FILE[:START-END]`.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { before, describe, it } from 'node:test';
import { spawn } from 'child_process';
import { BIN, lavin, REPO, tempDir } from './runLavin';

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

  it('refuses an empty file and a binary one, saying why, without running the model', async () => {
    const dir = tempDir('lavin-src-');
    const empty = path.join(dir, 'empty.ts');
    fs.writeFileSync(empty, '');
    const e = await lavin(['explain', empty]);
    assert.equal(e.code, 1);
    assert.equal(e.stderr, `lavin: error: file ${empty} is empty (0 bytes): there is nothing to explain\n`);
    assert.equal(e.stdout, '');
    const png = path.join(REPO, 'media', 'icon.png');
    const p = await lavin(['explain', '--json', png]);
    assert.equal(p.code, 1);
    assert.deepEqual(p.events.map((x) => x.event), ['error']);
    assert.match(String(p.events[0].message), /^file .*icon\.png is a PNG image, not text \(to ask about an image: lavin ask --image FILE/);
    const bin = path.join(dir, 'data.bin');
    fs.writeFileSync(bin, Buffer.from([0x41, 0x42, 0x00, 0x01, 0x43]));
    const b = await lavin(['explain', bin]);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /data\.bin is binary \(it contains NUL bytes\), not text/);
  });

  it('ends the answer\'s line before a note on stderr (one terminal shows both)', async () => {
    // A file longer than the tiny model's context gets a "cut" note.
    const long = path.join(tempDir('lavin-src-'), 'long.ts');
    fs.writeFileSync(long, Array.from({ length: 400 }, (_, i) => `export const value${i} = ${i} * 2;`).join('\n'));
    const both = path.join(tempDir('lavin-tty-'), 'screen.txt');
    const fd = fs.openSync(both, 'a');
    try {
      const child = spawn(process.execPath, [BIN, 'explain', '--max-new-tokens', '4', long], { stdio: ['ignore', fd, fd], env: { ...process.env, LAVIN_HOME: tempDir('lavin-home-') } });
      assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0);
    } finally {
      fs.closeSync(fd);
    }
    const screen = fs.readFileSync(both, 'utf8');
    assert.match(screen, /\nnote: The attached code was cut/, screen);
    assert.match(screen, /\n\[text route;/, screen);
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
