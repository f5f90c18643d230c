// `lavin ask`: streaming, JSON lines, images, and its error paths.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { describe, it } from 'node:test';
import { FIXTURE, lavin, tempDir } from './runLavin';

describe('lavin ask', () => {
  it('streams an answer as JSON lines: tokens, then done with route and router weights', async () => {
    const r = await lavin(['ask', '--json', '--max-new-tokens', '6', 'What does this project do?']);
    assert.equal(r.code, 0, r.stderr);
    const tokens = r.events.filter((e) => e.event === 'token');
    const done = r.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.equal(tokens.map((t) => t.text).join(''), done.text);
    assert.equal((done.tokens as number[]).length, 6);
    assert.equal(done.route, 'text');
    assert.equal((done.routerWeights as number[][]).length, 2);
    assert.doesNotMatch(r.stderr, /route;|lavin: /, 'JSON mode writes no human lines (native libraries may still log)');
  });

  it('prints the answer for people, with the route on stderr, and is reproducible with a seed', async () => {
    const a = await lavin(['ask', '--max-new-tokens', '5', '--temperature', '0.8', '--top-p', '0.9', '--seed', '7', 'hello']);
    const b = await lavin(['ask', '--max-new-tokens', '5', '--temperature', '0.8', '--top-p', '0.9', '--seed', '7', 'hello']);
    assert.equal(a.code, 0, a.stderr);
    assert.ok(a.stdout.trim().length > 0);
    assert.equal(a.stdout, b.stdout, 'same seed, same answer');
    assert.match(a.stderr, /\[text route; router weights per layer \d\.\d\d\/\d\.\d\d \d\.\d\d\/\d\.\d\d; 5 tokens/);
  });

  it('takes the image route with --image', async () => {
    const r = await lavin(['ask', '--json', '--max-new-tokens', '3', '--image', path.join(FIXTURE, 'inputs', 'image.png'), 'What is in the picture?']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.events.at(-1)!.route, 'image');
  });

  it('reports a corrupt image as a JSON error event with a non-zero exit', async () => {
    const bad = path.join(tempDir('lavin-img-'), 'broken.png');
    fs.writeFileSync(bad, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]));
    const r = await lavin(['ask', '--json', '--image', bad, 'what?']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.events.map((e) => e.event), ['error']);
    assert.match(String(r.events[0].message), /not a supported image/);
    const human = await lavin(['ask', '--image', bad, 'what?']);
    assert.equal(human.code, 1);
    assert.match(human.stderr, /lavin: error: .*not a supported image/);
  });

  it('names the image file that is empty or not an image at all', async () => {
    const dir = tempDir('lavin-img-');
    const empty = path.join(dir, 'empty.png');
    fs.writeFileSync(empty, '');
    const e = await lavin(['ask', '--image', empty, 'what?']);
    assert.equal(e.code, 1);
    assert.equal(e.stderr, `lavin: error: image ${empty} is empty (0 bytes)\n`);
    const text = path.join(dir, 'notes.png');
    fs.writeFileSync(text, 'just some text, renamed to .png\n');
    const t = await lavin(['ask', '--json', '--image', text, 'what?']);
    assert.equal(t.code, 1);
    assert.equal(t.events[0].message, `image ${text} is not a supported image (PNG, JPEG, WebP, GIF): unrecognised file signature`);
  });

  it('reports a missing image file', async () => {
    const r = await lavin(['ask', '--json', '--image', '/no/such/picture.png', 'what?']);
    assert.equal(r.code, 1);
    assert.match(String(r.events[0].message), /image \/no\/such\/picture\.png does not exist/);
  });

  it('reports a missing model folder and a folder without model.json', async () => {
    const missing = await lavin(['ask', '--json', '--model', '/no/such/model', 'hi']);
    assert.equal(missing.code, 1);
    assert.match(String(missing.events[0].message), /model folder \/no\/such\/model does not exist/);
    const empty = tempDir('lavin-empty-');
    const noManifest = await lavin(['ask', '--model', empty, 'hi']);
    assert.equal(noManifest.code, 1);
    assert.match(noManifest.stderr, /has no model\.json/);
  });
});
