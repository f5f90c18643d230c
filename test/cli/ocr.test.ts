// `lavin ocr FILE [--json]`: the lines event, plain text, no-text images and bad input.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { lavin, REPO, tempDir } from './runLavin';

const EXAMPLE = path.join(REPO, 'media/examples/settings-dialog.png');

describe('lavin ocr', () => {
  it('prints one lines event with text, box and confidence', async () => {
    const r = await lavin(['ocr', '--json', EXAMPLE]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.events.length, 1);
    assert.equal(r.events[0].event, 'lines');
    const lines = r.events[0].lines as Array<{ text: string; box: number[]; confidence: number }>;
    assert.deepEqual(Object.keys(lines[0]), ['text', 'box', 'confidence']);
    const error = lines.find((l) => l.text === 'Token expired 3 days ago. Generate a new one.');
    assert.ok(error, JSON.stringify(lines));
    assert.equal(error.box.length, 4);
    assert.ok(error.box.every((v) => Number.isInteger(v)) && error.box[0] < error.box[2] && error.box[1] < error.box[3]);
    assert.ok(error.confidence > 0.5 && error.confidence <= 1);
  });

  it('prints the lines as text without --json', async () => {
    const r = await lavin(['ocr', EXAMPLE]);
    assert.equal(r.code, 0, r.stderr);
    const printed = r.stdout.trim().split('\n');
    assert.ok(printed.includes('Connect to cluster') && printed.includes('https://k8s.internal:6443'), r.stdout);
  });

  it('gives zero lines for an image without text', async () => {
    const file = path.join(tempDir('lavin-ocr-'), 'blank.jpg');
    fs.writeFileSync(file, await sharp({ create: { width: 640, height: 360, channels: 3, background: '#f3f3f3' } }).jpeg().toBuffer());
    const r = await lavin(['ocr', '--json', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.events, [{ event: 'lines', lines: [] }]);
  });

  it('ask --image gives the read text to the model and reports it as imageText', async () => {
    const r = await lavin(['ask', '--json', '--max-new-tokens', '2', '--image', EXAMPLE, 'What does this dialog say is wrong?']);
    assert.equal(r.code, 0, r.stderr);
    const done = r.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.equal(done.route, 'image', 'the image still goes through CLIP and the router');
    const imageText = String(done.imageText);
    assert.ok(imageText.split('\n').includes('Token expired 3 days ago. Generate a new one.'), imageText);
    const ocr = await lavin(['ocr', '--json', EXAMPLE]);
    assert.equal(imageText, (ocr.events[0].lines as Array<{ text: string }>).map((l) => l.text).join('\n'), 'the same lines as lavin ocr, all within the budget');
    const human = await lavin(['ask', '--max-new-tokens', '2', '--image', EXAMPLE, 'What does this dialog say is wrong?']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stderr, /^read from the image \(\d+ lines\):\n {2}.*\n[\s\S]*  Token expired 3 days ago\. Generate a new one\.\n/m);
    assert.doesNotMatch(human.stdout, /read from the image|Token expired/, 'stdout holds the answer alone');
    const textOnly = await lavin(['ask', '--json', '--max-new-tokens', '2', 'hello']);
    assert.equal(textOnly.events.at(-1)!.imageText, undefined);
  });

  it('names the file in bad-image errors', async () => {
    const dir = tempDir('lavin-ocr-');
    const broken = path.join(dir, 'broken.png');
    fs.writeFileSync(broken, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 1)]));
    const r = await lavin(['ocr', '--json', broken]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.events.map((e) => e.event), ['error']);
    assert.match(String(r.events[0].message), /^image .*broken\.png is not a supported image \(PNG, JPEG, WebP, GIF\)/);
    const text = path.join(dir, 'notes.png');
    fs.writeFileSync(text, 'hello');
    const human = await lavin(['ocr', text]);
    assert.equal(human.code, 1);
    assert.match(human.stderr, /lavin: error: image .*notes\.png is not a supported image.*unrecognised file signature/);
    const missing = await lavin(['ocr', '--json', path.join(dir, 'none.png')]);
    assert.match(String(missing.events[0].message), /image .*none\.png does not exist/);
    const usage = await lavin(['ocr']);
    assert.equal(usage.code, 2);
  });
});
