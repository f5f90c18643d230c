// `lavin train`: JSON step events, a saved adapter set, resume, and errors.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { before, describe, it } from 'node:test';
import { guideDocs } from './guideDocs';
import { BIN, lavin, tempDir } from './runLavin';

describe('lavin train', () => {
  let docs: string;
  let home: string;
  before(() => {
    ({ docs, home } = guideDocs());
  });

  it('prints a step event per step, then saved; --resume continues from the saved step', async () => {
    const out = path.join(tempDir('lavin-out-'), 'guide-set');
    const r = await lavin(['train', '--json', '--docs', docs, '--steps', '2', '--out', out], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.events.map((e) => e.event), ['step', 'step', 'saved']);
    assert.deepEqual(r.events.slice(0, 2).map((e) => e.step), [1, 2]);
    for (const e of r.events.slice(0, 2)) assert.ok(Number.isFinite(e.loss as number));
    assert.equal(r.events[2].path, out);
    assert.ok(fs.existsSync(path.join(out, 'adapter.json')));

    const resumed = await lavin(['train', '--json', '--docs', docs, '--steps', '3', '--out', out, '--resume'], { home });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(resumed.events.filter((e) => e.event === 'step').map((e) => e.step), [3]);
    assert.equal(resumed.events.at(-1)!.steps, 3);
  });

  it('--dry-run prints the samples training would build, with --include narrowing the documents', async () => {
    fs.mkdirSync(path.join(docs, 'extra'), { recursive: true });
    fs.writeFileSync(path.join(docs, 'extra', 'notes.md'), '# Notes\n\nA second document about configuring the model folder and its manifest file.\n');
    const all = await lavin(['train', '--json', '--dry-run', '--docs', docs], { home });
    assert.equal(all.code, 0, all.stderr);
    const preview = all.events[0] as unknown as { event: string; samples: number; documents: number; examples: { prompt: string }[] };
    assert.equal(preview.event, 'preview');
    assert.equal(preview.documents, 2);
    assert.equal(preview.samples, 3, 'one sample per section: Install, Ask, Notes');
    assert.match(preview.examples[0].prompt, /^Instruction: Explain "/);
    const some = await lavin(['train', '--json', '--dry-run', '--docs', docs, '--include', 'extra/**'], { home });
    assert.equal((some.events[0] as unknown as { documents: number }).documents, 1);
    const human = await lavin(['train', '--dry-run', '--docs', docs], { home });
    assert.match(human.stdout, /3 samples \(3 text, 0 image\) from 2 of 2 documents/);
    fs.rmSync(path.join(docs, 'extra'), { recursive: true });
  });

  it('shows progress for people and saves into the adapter-set store by default', async () => {
    const r = await lavin(['train', '--docs', docs, '--steps', '2', '--name', 'people'], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /training 100% step 2\/2 loss \d+\.\d+/);
    assert.match(r.stderr, /adapter set people saved in .*adapter-sets\/people after 2 steps/);
    assert.ok(fs.existsSync(path.join(home, 'adapter-sets', 'people', 'adapter.json')));
  });

  it('reports a missing docs folder, a folder with nothing to learn, and resume with nothing saved', async () => {
    const missing = await lavin(['train', '--json', '--docs', '/no/such/docs'], { home });
    assert.equal(missing.code, 1);
    assert.match(String(missing.events[0].message), /docs folder \/no\/such\/docs does not exist/);
    const empty = await lavin(['train', '--json', '--docs', tempDir('lavin-nodocs-'), '--steps', '1'], { home });
    assert.equal(empty.code, 1);
    assert.match(String(empty.events[0].message), /no usable sections/);
    const nothing = await lavin(['train', '--json', '--docs', docs, '--name', 'fresh', '--resume'], { home });
    assert.equal(nothing.code, 1);
    assert.match(String(nothing.events[0].message), /nothing to resume/);
  });

  it('Ctrl-C stops training cleanly: the checkpoint is saved, exit code 130, --resume continues', async () => {
    const out = path.join(tempDir('lavin-out-'), 'interrupted');
    const child = spawn(process.execPath, [BIN, 'train', '--json', '--docs', docs, '--steps', '500', '--out', out], { env: { ...process.env, LAVIN_HOME: home } });
    let stdout = '';
    let interrupted = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // Once: a second Ctrl-C quits at once, without saving.
      if (!interrupted && stdout.includes('"event":"step"')) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 130);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const saved = events.at(-1);
    assert.equal(saved.event, 'saved');
    assert.equal(saved.cancelled, true);
    assert.ok(saved.steps >= 1 && saved.steps < 500);
    const resumed = await lavin(['train', '--json', '--docs', docs, '--steps', String(saved.steps + 1), '--out', out, '--resume'], { home });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(resumed.events.filter((e) => e.event === 'step').map((e) => e.step), [saved.steps + 1]);
  });

  it('a reader that goes away (`| head`) stops training cleanly, as Ctrl-C does: no EPIPE crash, the checkpoint saved', async () => {
    const out = path.join(tempDir('lavin-out-'), 'piped');
    const child = spawn(process.execPath, [BIN, 'train', '--json', '--docs', docs, '--steps', '500', '--out', out], { env: { ...process.env, LAVIN_HOME: home } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"event":"step"')) child.stdout.destroy(); // as `head -1` exits
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 130, stderr);
    assert.doesNotMatch(stderr, /EPIPE|internal error|at .*\.js:\d+/);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'adapter.json'), 'utf8'));
    assert.ok(meta.step >= 1 && meta.step < 500, `saved at step ${meta.step}`);
  });
});
