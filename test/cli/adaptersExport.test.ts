// `lavin adapters --export / --import` and the model fingerprint on the command line: a set moves
// through one .safetensors file and answers exactly as before; bad files and name clashes are
// refused in one line with the store untouched; a set of another backbone is refused by name.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { before, describe, it } from 'node:test';
import { lavin, LavinRun, tempDir } from './runLavin';
import { fileListing } from '../helpers/fileListing';

type Top = { id: number; logit: number }[];

function firstLogits(r: LavinRun): Top {
  assert.equal(r.code, 0, r.stderr);
  const e = r.events.find((x) => x.event === 'logits');
  assert.ok(e, `no logits event in ${JSON.stringify(r.events.map((x) => x.event))}`);
  return e.top as Top;
}

/** A failed run: exit code not 0 and one error line naming `re`. */
function refused(r: LavinRun, re: RegExp): void {
  assert.notEqual(r.code, 0, `expected a refusal, got: ${r.stdout}`);
  // --json runs say it as an error event; text runs on stderr.
  const error = r.events.find((e) => e.event === 'error');
  const lines = error ? [String(error.message)] : r.stderr.trim().split('\n').filter((l) => l.trim());
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.ok(!lines[0].includes('\n'), lines[0]);
  assert.match(lines[0], re);
}

describe('lavin adapters --export / --import, and the model fingerprint', () => {
  let home: string;
  let store: string;
  let work: string;
  const question = ['--json', '--max-new-tokens', '1', '--top-logits', '8', 'How do I install it?'];
  before(async () => {
    home = tempDir('lavin-home-');
    store = path.join(home, 'adapter-sets');
    work = tempDir('lavin-export-');
    const docs = tempDir('lavin-docs-');
    fs.writeFileSync(path.join(docs, 'guide.md'), ['# Install', '', 'Run npm ci, then npm run build; the command line is then npx lavin.', ''].join('\n'));
    const r = await lavin(['train', '--json', '--docs', docs, '--steps', '2', '--name', 'guide'], { home });
    assert.equal(r.code, 0, r.stderr);
  });

  it('records the fingerprint of the backbone and CLIP; export -> import answers with identical logits', async () => {
    const meta = JSON.parse(fs.readFileSync(path.join(store, 'guide', 'adapter.json'), 'utf8'));
    assert.match(meta.baseModel.fingerprint.backbone, /^[0-9a-f]{64}$/);
    assert.match(meta.baseModel.fingerprint.clip, /^[0-9a-f]{64}$/);

    const file = path.join(work, 'guide.safetensors');
    const exp = await lavin(['adapters', '--export', 'guide', '--out', file, '--json'], { home });
    assert.equal(exp.code, 0, exp.stderr);
    assert.equal(exp.events[0].event, 'exported');
    assert.equal(exp.events[0].kind, 'docs');
    assert.deepEqual(exp.events[0].fingerprint, meta.baseModel.fingerprint);
    assert.ok(fs.statSync(file).size > 0);

    const imp = await lavin(['adapters', '--import', file, '--name', 'guide-copy'], { home });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stderr, /adapter set guide-copy imported into .*guide-copy \(docs, 2 steps, trained on lavin-tiny\)/);
    const list = await lavin(['adapters', '--json'], { home });
    const sets = (list.events[0] as unknown as { sets: { name: string; kind: string; fingerprinted: boolean }[] }).sets;
    assert.deepEqual(sets.map((s) => [s.name, s.kind, s.fingerprinted]), [['guide', 'docs', true], ['guide-copy', 'docs', true]]);

    const original = firstLogits(await lavin(['ask', '--adapters', 'guide', ...question], { home }));
    const copy = firstLogits(await lavin(['ask', '--adapters', 'guide-copy', ...question], { home }));
    assert.deepEqual(copy, original, 'the imported set answers exactly as the original');
  });

  it('refuses a name clash, an existing --out file, truncated and foreign files, in one line, store untouched', async () => {
    const file = path.join(work, 'guide2.safetensors');
    assert.equal((await lavin(['adapters', '--export', 'guide', '--out', file], { home })).code, 0);
    const before = fileListing(store);
    refused(await lavin(['adapters', '--import', file], { home }), /an adapter set named "guide" already exists in .*; choose another name \(--name\)/);
    refused(await lavin(['adapters', '--export', 'guide', '--out', file], { home }), /guide2\.safetensors already exists: choose another file name/);
    const truncated = path.join(work, 'cut.safetensors');
    fs.writeFileSync(truncated, fs.readFileSync(file).subarray(0, 4000));
    refused(await lavin(['adapters', '--import', truncated, '--name', 'cut'], { home }), /cannot import .*cut\.safetensors: .*truncated/);
    const setTensors = path.join(store, 'guide', JSON.parse(fs.readFileSync(path.join(store, 'guide', 'adapter.json'), 'utf8')).files.tensors);
    refused(await lavin(['adapters', '--import', setTensors, '--name', 'raw'], { home }), /not an exported LaVIN Code adapter set/);
    refused(await lavin(['adapters', '--export', 'nope', '--out', path.join(work, 'nope.safetensors')], { home }), /no adapter set named "nope"/);
    const usage = await lavin(['adapters', '--export', 'guide'], { home });
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /--export needs --out FILE\.safetensors/);
    assert.deepEqual(fileListing(store), before, 'the store is untouched');
  });

  it('a set of another backbone is refused naming both; a set without a fingerprint still runs, with a note', async () => {
    // The same set as if trained on another model: only its recorded fingerprint differs.
    const other = path.join(store, 'other');
    fs.cpSync(path.join(store, 'guide'), other, { recursive: true });
    const metaFile = path.join(other, 'adapter.json');
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    fs.writeFileSync(metaFile, JSON.stringify({ ...meta, name: 'other', baseModel: { ...meta.baseModel, name: 'Llama-3.2-1B', files: { backbone: 'llama-3.2-1b.gguf' }, fingerprint: { ...meta.baseModel.fingerprint, backbone: 'f'.repeat(64) } } }));
    refused(await lavin(['ask', '--adapters', 'other', ...question], { home }),
      /adapter set other: was trained on the backbone of Llama-3\.2-1B llama-3\.2-1b\.gguf \(fingerprint ffffffffffff\), not on the loaded lavin-tiny llama \([0-9a-f]{12}\)/);
    const act = await lavin(['adapters', '--activate', 'other'], { home });
    assert.equal(act.code, 0, act.stderr); // marking is cheap; using it is what is checked
    refused(await lavin(['ask', ...question], { home }), /adapter set other: was trained on the backbone of Llama-3\.2-1B/);
    assert.equal((await lavin(['adapters', '--activate', 'none'], { home })).code, 0);

    // Saved before fingerprints: the old check (file names and sizes) and a note.
    const legacy = path.join(store, 'legacy');
    fs.cpSync(path.join(store, 'guide'), legacy, { recursive: true });
    const { fingerprint: _fp, files: _files, ...oldBase } = meta.baseModel;
    fs.writeFileSync(path.join(legacy, 'adapter.json'), JSON.stringify({ ...meta, name: 'legacy', baseModel: oldBase }));
    const r = await lavin(['ask', '--verbose', '--adapters', 'legacy', '--max-new-tokens', '1', 'How do I install it?'], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /note: adapter set legacy was saved before adapter sets recorded the model's fingerprint/);
  });
});
