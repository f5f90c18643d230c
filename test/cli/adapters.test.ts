// From training to answers on the command line: `lavin adapters`, `ask/explain --adapters`, the
// active set, and training that never replaces a set unless told to.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { before, describe, it } from 'node:test';
import { guideDocs } from './guideDocs';
import { lavin, LavinRun, tempDir } from './runLavin';

type Top = { id: number; logit: number }[];

/** The first answer token's highest logits from `ask --json --top-logits`. */
function firstLogits(r: LavinRun): Top {
  assert.equal(r.code, 0, r.stderr);
  const e = r.events.find((x) => x.event === 'logits');
  assert.ok(e, `no logits event in ${JSON.stringify(r.events.map((x) => x.event))}`);
  assert.equal(e.index, 0);
  return e.top as Top;
}

describe('adapter sets on the command line', () => {
  let docs: string;
  let home: string;
  const question = ['--json', '--max-new-tokens', '2', '--top-logits', '8', 'How do I install it?'];
  before(async () => {
    ({ docs, home } = guideDocs());
    const r = await lavin(['train', '--json', '--docs', docs, '--steps', '3', '--name', 'guide'], { home });
    assert.equal(r.code, 0, r.stderr);
  });

  it('ask --adapters NAME answers with the trained set: its logits differ from the base model\'s, which are reproducible', async () => {
    const base = firstLogits(await lavin(['ask', ...question], { home }));
    assert.equal(base.length, 8);
    assert.deepEqual(firstLogits(await lavin(['ask', ...question], { home })), base, 'the base model is deterministic');
    const tunedRun = await lavin(['ask', '--adapters', 'guide', ...question], { home });
    const tuned = firstLogits(tunedRun);
    assert.notDeepEqual(tuned.map((t) => t.logit), base.map((t) => t.logit), 'the trained adapters change the logits');
    assert.equal(tunedRun.events.at(-1)!.adapterSet, 'guide');
    // The same set given as a folder.
    const byDir = firstLogits(await lavin(['ask', '--adapters', path.join(home, 'adapter-sets', 'guide'), ...question], { home }));
    assert.deepEqual(byDir, tuned);
    // explain takes it too.
    const file = path.join(docs, 'guide.md');
    const ex = await lavin(['explain', '--adapters', 'guide', '--json', '--max-new-tokens', '1', file], { home });
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.events.at(-1)!.adapterSet, 'guide');
  });

  it('lavin adapters lists name, base model, steps, loss and date; --activate makes ask use a set until --adapters none', async () => {
    const list = await lavin(['adapters', '--json'], { home });
    assert.equal(list.code, 0, list.stderr);
    const e = list.events[0] as unknown as { event: string; active: string | null; sets: { name: string; baseModel: string; steps: number; loss: number; updated: string; active: boolean }[] };
    assert.equal(e.event, 'adapters');
    assert.equal(e.active, null);
    const guide = e.sets.find((s) => s.name === 'guide')!;
    assert.equal(guide.baseModel, 'lavin-tiny');
    assert.equal(guide.steps, 3);
    assert.ok(Number.isFinite(guide.loss) && guide.loss > 0);
    assert.ok(!Number.isNaN(Date.parse(guide.updated)));

    const activated = await lavin(['adapters', '--activate', 'guide'], { home });
    assert.equal(activated.code, 0, activated.stderr);
    assert.match(activated.stdout, /^\s+NAME\s+BASE MODEL\s+STEPS\s+LOSS\s+SAVED\n\*\s+guide\s+lavin-tiny\s+3\s+\d+\.\d{4}\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\n/);
    assert.match(activated.stderr, /adapter set guide is active/);
    const byDefault = await lavin(['ask', ...question], { home });
    assert.equal(byDefault.events.at(-1)!.adapterSet, 'guide');
    const tuned = firstLogits(await lavin(['ask', '--adapters', 'guide', ...question], { home }));
    assert.deepEqual(firstLogits(byDefault), tuned);
    const none = await lavin(['ask', '--adapters', 'none', ...question], { home });
    assert.equal(none.events.at(-1)!.adapterSet, null);
    assert.notDeepEqual(firstLogits(none), tuned);
    // --adapters for one run did not change the mark.
    assert.equal((await lavin(['adapters', '--json'], { home })).events[0].active, 'guide');
    assert.equal((await lavin(['adapters', '--activate', 'none'], { home })).code, 0);
    assert.equal((await lavin(['adapters', '--json'], { home })).events[0].active, null);
  });

  it('a second train under an existing name keeps the first set unless --overwrite is given', async () => {
    const meta = path.join(home, 'adapter-sets', 'guide', 'adapter.json');
    const before = fs.readFileSync(meta, 'utf8');
    const again = await lavin(['train', '--docs', docs, '--steps', '1', '--name', 'guide'], { home });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /adapter set guide already exists in .*guide \(3 steps, saved .* UTC\); choose another name, continue it \(lavin train --resume\) or replace it \(lavin train --overwrite\)/);
    assert.equal(fs.readFileSync(meta, 'utf8'), before, 'the first set is untouched');
    // The default name (the docs folder's) follows the same rule.
    assert.equal((await lavin(['train', '--docs', docs, '--steps', '1'], { home })).code, 0);
    assert.equal((await lavin(['train', '--docs', docs, '--steps', '1'], { home })).code, 1);
    const replaced = await lavin(['train', '--json', '--docs', docs, '--steps', '1', '--name', 'guide', '--overwrite'], { home });
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal(JSON.parse(fs.readFileSync(meta, 'utf8')).step, 1);
    const both = await lavin(['train', '--docs', docs, '--name', 'guide', '--overwrite', '--resume'], { home });
    assert.equal(both.code, 2);
  });

  it('says what is wrong with an unknown name, a folder that is no set, and a gone active set', async () => {
    const unknown = await lavin(['ask', '--adapters', 'nope', 'hi'], { home });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no adapter set named "nope" in .*adapter-sets \(known: .*guide.*; "lavin adapters" lists them\)/);
    const notASet = await lavin(['ask', '--adapters', docs, 'hi'], { home });
    assert.equal(notASet.code, 1);
    assert.match(notASet.stderr, /is not an adapter set \(it has no adapter\.json/);
    assert.equal((await lavin(['adapters', '--activate', 'nope'], { home })).code, 1);
    const other = tempDir('lavin-home-');
    fs.writeFileSync(path.join(other, 'active-adapter-set'), 'gone\n');
    const gone = await lavin(['ask', 'hi'], { home: other });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /the active adapter set is gone: .*"lavin adapters --activate none" clears the mark/);
  });
});
