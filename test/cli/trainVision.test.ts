// The contract of issue 14 end to end, on the fixture model converted to int4:
//   lavin convert --precision int4 -> lavin train --model M --data DIR [--steps N] [--out DIR] --json
//   -> lavin ask --model M --adapters DIR --temperature 0 --image FILE "question"
// A few steps only: this checks the plumbing (validation report, the saved set, asking with it);
// whether the adapters learn to see is test/unit/train/visionTraining.test.ts.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { describe, it } from 'node:test';
import { writeSyntheticSet } from '../../server/train/data/synthetic';
import { spawn } from 'child_process';
import { BIN, FIXTURE, lavin, REPO, tempDir } from './runLavin';

const TOKENIZER = path.join(REPO, 'test', 'data', 'tokenizer', 'tokenizer.model');
const official = ['--llama', path.join(FIXTURE, 'llama'), '--clip', path.join(FIXTURE, 'clip', 'visual.pth'), '--adapter', path.join(FIXTURE, 'adapter', 'checkpoint.pth'), '--tokenizer', TOKENIZER];

describe('lavin train --data (image-question data)', () => {
  it('trains an int4 model on data.json, reports skipped samples, and ask --adapters answers with the set', { timeout: 300_000 }, async () => {
    const root = tempDir('lavin-train-vision-');
    const model = path.join(root, 'tiny-int4');
    const conv = await lavin(['convert', '--json', ...official, '--precision', 'int4', '--out', model]);
    assert.equal(conv.code, 0, conv.stderr);

    await writeSyntheticSet(path.join(root, 'shapes'), { trainSize: 20, testSize: 2, seed: 5 });
    const dataDir = path.join(root, 'shapes', 'train');
    const records = JSON.parse(fs.readFileSync(path.join(dataDir, 'data.json'), 'utf8'));
    records.push({ id: 'lost', image: 'images/none.png', conversations: [{ from: 'human', value: '<image>\nq' }, { from: 'gpt', value: 'a' }] });
    fs.writeFileSync(path.join(dataDir, 'data.json'), JSON.stringify(records));

    const out = path.join(root, 'set');
    const r = await lavin(['train', '--json', '--model', model, '--data', dataDir, '--steps', '2', '--out', out], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    const data = r.events.find((e) => e.event === 'data') as { samples: number; skipped: { where: string; reason: string }[] } | undefined;
    assert.ok(data, 'the validation report comes before training');
    assert.equal(data.samples, 20);
    assert.equal(data.skipped.length, 1);
    assert.match(data.skipped[0].reason, /none\.png does not exist/);
    assert.ok(r.events.some((e) => e.event === 'step'));
    // Reading the images' text comes first, as progress events between the JSON lines, ending with the counts.
    const reading = r.events.slice(0, r.events.findIndex((e) => e.event === 'data'));
    assert.ok(reading.length >= 2 && reading.every((e) => e.event === 'progress'), JSON.stringify(reading));
    assert.deepEqual(reading.map((e) => e.total), reading.map(() => 20));
    assert.ok(reading.every((e, i) => i === 0 || (e.done as number) > (reading[i - 1].done as number)));
    assert.equal(reading[0].done, 0);
    assert.match(reading.at(-1)!.message as string, /^read the text of 20 images \(\d+ with text\) in \d+\.\d s$/);
    assert.equal(reading.at(-1)!.percentage, 100);
    // Then the fresh set's start: its 20 images measured for the projection's whitening (16 are enough at this CLIP's width).
    const afterData = r.events.slice(r.events.findIndex((e) => e.event === 'data') + 1, r.events.findIndex((e) => e.event === 'step'));
    assert.ok(afterData.length >= 2 && afterData.every((e) => e.event === 'progress' && e.total === 20), JSON.stringify(afterData));
    assert.match(afterData[0].message as string, /^measuring the CLIP features of the images: 0\/20$/);
    assert.match(afterData.at(-1)!.message as string, /^measuring the CLIP features of the images: 20 images done in \d+\.\d s$/);
    const saved = r.events.at(-1)!;
    assert.equal(saved.event, 'saved');
    assert.equal(saved.steps, 2);
    assert.ok(fs.existsSync(path.join(out, 'adapter.json')));

    const test = JSON.parse(fs.readFileSync(path.join(root, 'shapes', 'test', 'data.json'), 'utf8'))[0];
    const question = test.conversations[0].value.replace('<image>\n', '');
    const ask = await lavin(['ask', '--json', '--model', model, '--adapters', out, '--temperature', '0', '--max-new-tokens', '4', '--image', path.join(root, 'shapes', 'test', test.image), question]);
    assert.equal(ask.code, 0, ask.stderr);
    const done = ask.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.equal(done.route, 'image');
    assert.equal(done.adapterSet, 'set');

    const both = await lavin(['train', '--model', model, '--data', dataDir, '--docs', dataDir]);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /--docs DIR .* or --data DIR/);
  });

  it('Ctrl-C while a fresh set measures its images: step 0 saved, and --resume starts it over', { timeout: 300_000 }, async () => {
    const root = tempDir('lavin-train-vision-');
    const home = tempDir('lavin-home-');
    const model = path.join(root, 'tiny-int4');
    assert.equal((await lavin(['convert', '--json', ...official, '--precision', 'int4', '--out', model])).code, 0);
    await writeSyntheticSet(path.join(root, 'shapes'), { trainSize: 20, testSize: 2, seed: 5 });
    const dataDir = path.join(root, 'shapes', 'train');
    const out = path.join(root, 'set');
    const child = spawn(process.execPath, [BIN, 'train', '--model', model, '--data', dataDir, '--steps', '2', '--out', out], { env: { ...process.env, LAVIN_HOME: home } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      const first = !stderr.includes('measuring images');
      stderr += d.toString();
      if (first && stderr.includes('measuring images')) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /stopped before the first step; the set is saved in .*set \(run again with --resume to start it\)/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'adapter.json'), 'utf8')).step, 0);
    const resumed = await lavin(['train', '--json', '--model', model, '--data', dataDir, '--steps', '2', '--out', out, '--resume'], { home, timeoutMs: 240_000 });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(resumed.events.some((e) => e.event === 'progress' && /^measuring the CLIP features of the images: 20 images done/.test(String(e.message))), 'the resume measured its start');
    assert.deepEqual(resumed.events.filter((e) => e.event === 'step').map((e) => e.step), [1, 2]);
  });
});
