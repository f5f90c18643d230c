// ScienceQA evaluation: Table 1 buckets per problem, answer parsing, the table arithmetic with a
// stubbed generator (so every percentage is known exactly), the request each problem gets, bad
// folders, and one real run of the embedded tiny model.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { describe, test } from 'node:test';
import { GenerateRequest } from '../../../server/engine/api';
import { LavinModel } from '../../../server/engine/lavinModel';
import { scienceQaPrompt } from '../../../server/train/data/scienceqa';
import { evaluateScienceQa, parseAnswer, readScienceQaSplit, ScienceQaGenerator } from '../../../server/train/eval/scienceQaEval';
import { computeTable1, formatTable1, Table1Column, table1Buckets, TABLE1_COLUMNS } from '../../../server/train/eval/table1';
import { tempDir } from '../../helpers/tempDir';

const REPO = path.resolve(__dirname, '../../../..');
const SAMPLE = path.join(REPO, 'test/data/scienceqa-sample');
const TINY_MODEL = path.join(REPO, 'models/lavin-tiny');

/** Hand-written from the sample's README table (subject, hint, image, grade per pid). */
const EXPECTED_BUCKETS: Record<string, Table1Column[]> = {
  101: ['NAT', 'TXT', 'IMG', 'G1-6', 'Avg'],
  102: ['NAT', 'IMG', 'G7-12', 'Avg'],
  103: ['NAT', 'NO', 'G1-6', 'Avg'],
  104: ['NAT', 'TXT', 'G7-12', 'Avg'],
  105: ['SOC', 'IMG', 'G1-6', 'Avg'],
  106: ['SOC', 'TXT', 'G7-12', 'Avg'],
  107: ['SOC', 'NO', 'G7-12', 'Avg'],
  108: ['SOC', 'TXT', 'IMG', 'G1-6', 'Avg'],
  109: ['LAN', 'NO', 'G1-6', 'Avg'],
  110: ['LAN', 'TXT', 'G7-12', 'Avg'],
  111: ['LAN', 'NO', 'G7-12', 'Avg'],
  112: ['LAN', 'IMG', 'G1-6', 'Avg'],
};

/** Answers the stub gives, chosen so each column's accuracy is a known fraction. */
const STUB_OUTPUTS: Record<string, { text: string; correct: boolean; letter: string | null }> = {
  101: { text: 'The answer is A. BECAUSE: hares have big feet.', correct: true, letter: 'A' },
  102: { text: 'The answer is A. BECAUSE: ...', correct: false, letter: 'A' }, // gold B
  103: { text: 'The answer is A.', correct: true, letter: 'A' },
  104: { text: 'I think it is A.', correct: false, letter: null }, // no "The answer is"
  105: { text: 'The answer is B. Maine.', correct: true, letter: 'B' },
  106: { text: 'The answer is A.\n', correct: true, letter: 'A' },
  107: { text: 'The answer is E.', correct: false, letter: 'E' }, // only 3 options
  108: { text: 'The answer is B, because of the sand.', correct: true, letter: 'B' }, // "." in the regex is any character
  109: { text: 'The answer is A', correct: false, letter: null }, // gold A, but nothing after the letter: no match
  110: { text: 'Sure. The answer is A. BECAUSE: formal. The answer is B.', correct: true, letter: 'A' }, // first match counts
  111: { text: 'The answer is A.', correct: true, letter: 'A' },
  112: { text: 'the answer is b.', correct: false, letter: null }, // case-sensitive, as the official regex
};

class StubGenerator implements ScienceQaGenerator {
  readonly requests: GenerateRequest[] = [];
  constructor(private readonly byPrompt: Map<string, string>) {}
  async generate(req: GenerateRequest): Promise<{ text: string }> {
    this.requests.push(req);
    const text = typeof req.prompt === 'string' ? this.byPrompt.get(req.prompt) : undefined;
    if (text === undefined) throw new Error(`stub: unexpected prompt ${JSON.stringify(req.prompt)}`);
    return { text };
  }
}

function stubForSample(): StubGenerator {
  const items = readScienceQaSplit(SAMPLE, 'test');
  return new StubGenerator(new Map(items.map((it) => [it.prompt, STUB_OUTPUTS[it.pid].text])));
}

function tmpCopy(): string {
  const dir = tempDir('lavin-sqa-');
  fs.cpSync(SAMPLE, dir, { recursive: true });
  return dir;
}

describe('Table 1 buckets', () => {
  test('every sample problem lands in the columns written down by hand', () => {
    const items = readScienceQaSplit(SAMPLE, 'test');
    assert.deepEqual(items.map((i) => i.pid), Object.keys(EXPECTED_BUCKETS));
    for (const it of items) assert.deepEqual(table1Buckets(it.problem), EXPECTED_BUCKETS[it.pid], `problem ${it.pid}`);
    // Every column is exercised by the sample.
    for (const c of TABLE1_COLUMNS) assert.ok(items.some((it) => table1Buckets(it.problem).includes(c)), `no sample problem in ${c}`);
  });

  test('Python truthiness of hint / image; unknown subjects and grades count only in Avg', () => {
    assert.deepEqual(table1Buckets({ subject: 'natural science', hint: ' ', image: null, grade: 'grade7' }), ['NAT', 'TXT', 'G7-12', 'Avg']);
    assert.deepEqual(table1Buckets({ subject: 'social science', hint: '', image: '', grade: 'grade6' }), ['SOC', 'NO', 'G1-6', 'Avg']);
    assert.deepEqual(table1Buckets({ subject: 'math', hint: '', image: 'image.png', grade: 'grade13' }), ['IMG', 'Avg']);
    assert.deepEqual(table1Buckets({}), ['NO', 'Avg']);
  });
});

describe('answer parsing', () => {
  test('the official regex: first "The answer is X." with any character after the letter', () => {
    assert.deepEqual(parseAnswer('The answer is C. BECAUSE: x', 3), { letter: 'C', index: 2 });
    assert.deepEqual(parseAnswer('blah The answer is B) and The answer is A.', 2), { letter: 'B', index: 1 });
    assert.deepEqual(parseAnswer('The answer is D.', 3), { letter: 'D', index: null }); // not an option
    assert.deepEqual(parseAnswer('The answer is B', 2), { letter: null, index: null }); // nothing after the letter
    assert.deepEqual(parseAnswer('The answer is B\n', 2), { letter: null, index: null }); // '.' does not match a newline
    assert.deepEqual(parseAnswer('the answer is a.', 2), { letter: null, index: null });
    assert.deepEqual(parseAnswer('The answer is (A).', 2), { letter: null, index: null });
    assert.deepEqual(parseAnswer('', 2), { letter: null, index: null });
    for (const [pid, o] of Object.entries(STUB_OUTPUTS)) assert.equal(parseAnswer(o.text, 5).letter, o.letter, `stub output of ${pid}`);
  });
});

describe('evaluateScienceQa with a stubbed generator', () => {
  test('table arithmetic: each column is the hand-counted fraction', async () => {
    const r = await evaluateScienceQa(stubForSample(), SAMPLE);
    assert.equal(r.rows.length, 12);
    for (const row of r.rows) {
      assert.equal(row.correct, STUB_OUTPUTS[row.pid].correct, `problem ${row.pid}`);
      assert.equal(row.predictedLetter, STUB_OUTPUTS[row.pid].letter, `problem ${row.pid}`);
    }
    // Correct: 101 103 105 106 108 110 111. Wrong: 102 (wrong letter), 104 (no phrase),
    // 107 (E of 3 options), 109 (no character after the letter), 112 (lower case).
    const expected = {
      NAT: [2, 4], SOC: [3, 4], LAN: [2, 4], TXT: [4, 5], IMG: [3, 5], NO: [2, 4], 'G1-6': [4, 6], 'G7-12': [3, 6], Avg: [7, 12],
    } satisfies Record<Table1Column, [number, number]>;
    for (const c of TABLE1_COLUMNS) {
      const [correct, total] = expected[c];
      assert.deepEqual(r.counts[c], { correct, total }, `counts of ${c}`);
      assert.equal(r.table[c], (correct / total) * 100, `accuracy of ${c}`);
    }
    assert.equal(r.table.Avg!.toFixed(2), '58.33');
    assert.equal(r.table['G1-6']!.toFixed(2), '66.67');
    assert.equal(r.unparsed, 4); // 104, 107, 109, 112
    assert.deepEqual(r.rows.filter((x) => x.unparsed).map((x) => x.pid), ['104', '107', '109', '112']);
    assert.ok(r.rows.filter((x) => x.unparsed).every((x) => x.predicted === null && !x.correct));
  });

  test('each problem gets its QCM-ALE prompt, its image bytes iff it has an image, and the reference settings', async () => {
    const stub = stubForSample();
    await evaluateScienceQa(stub, SAMPLE);
    const problems = JSON.parse(fs.readFileSync(path.join(SAMPLE, 'problems.json'), 'utf8'));
    const pids = Object.keys(EXPECTED_BUCKETS);
    stub.requests.forEach((req, i) => {
      const p = problems[pids[i]];
      assert.equal(req.prompt, scienceQaPrompt(p).prompt);
      assert.ok(req.prompt.startsWith('Question: ') && req.prompt.endsWith('\nResponse:'));
      if (p.image) assert.deepEqual(Buffer.from(req.image!), fs.readFileSync(path.join(SAMPLE, 'images/test', pids[i], 'image.png')));
      else assert.equal(req.image, undefined, `text-only problem ${pids[i]} got an image`);
      assert.equal(req.temperature, 0.1);
      assert.equal(req.topP, 0.75);
      assert.equal(req.maxNewTokens, 64);
      assert.equal(req.seed, i);
    });
    assert.equal(stub.requests.filter((q) => q.image).length, 5);

    const greedy = stubForSample();
    const r = await evaluateScienceQa(greedy, SAMPLE, { greedy: true, limit: 3, maxNewTokens: 8, topP: 0.9, seed: 100 });
    assert.equal(r.rows.length, 3);
    assert.deepEqual(greedy.requests.map((q) => [q.temperature, q.topP, q.maxNewTokens, q.seed]), [[0, 0.9, 8, 100], [0, 0.9, 8, 101], [0, 0.9, 8, 102]]);
    assert.deepEqual(r.settings, { temperature: 0, topP: 0.9, maxNewTokens: 8, seed: 100, unparsed: 'wrong' });
  });

  test("unparsed: 'random' guesses a valid option (seeded), like eval.py's random.choice", async () => {
    const a = await evaluateScienceQa(stubForSample(), SAMPLE, { unparsed: 'random', seed: 3 });
    const b = await evaluateScienceQa(stubForSample(), SAMPLE, { unparsed: 'random', seed: 3 });
    const problems = JSON.parse(fs.readFileSync(path.join(SAMPLE, 'problems.json'), 'utf8'));
    for (const row of a.rows.filter((x) => x.unparsed)) {
      assert.ok(Number.isInteger(row.predicted) && row.predicted! >= 0 && row.predicted! < problems[row.pid].choices.length);
      assert.equal(row.correct, row.predicted === row.answer);
    }
    assert.deepEqual(a.rows.map((x) => x.predicted), b.rows.map((x) => x.predicted));
    // Parsed rows are unaffected by the policy.
    const wrong = await evaluateScienceQa(stubForSample(), SAMPLE);
    a.rows.forEach((row, i) => { if (!row.unparsed) assert.equal(row.predicted, wrong.rows[i].predicted); });
  });

  test('splits, the flat images/<pid>/ layout, abort, and bad folders get clear errors', async () => {
    const val = readScienceQaSplit(SAMPLE, 'val');
    assert.deepEqual(val.map((i) => i.pid), ['301']);

    const flat = tmpCopy();
    fs.renameSync(path.join(flat, 'images/test'), path.join(flat, 'images-test'));
    fs.rmSync(path.join(flat, 'images'), { recursive: true });
    fs.renameSync(path.join(flat, 'images-test'), path.join(flat, 'images'));
    assert.equal(readScienceQaSplit(flat, 'test').find((i) => i.pid === '101')!.imagePath, path.join(flat, 'images/101/image.png'));

    const controller = new AbortController();
    const r = await evaluateScienceQa(stubForSample(), SAMPLE, { signal: controller.signal, onProblem: (_row, done) => { if (done === 2) controller.abort(); } });
    assert.equal(r.aborted, true);
    assert.equal(r.rows.length, 2);
    assert.equal(r.counts.Avg.total, 2);

    assert.throws(() => readScienceQaSplit(SAMPLE, 'minival'), /pid_splits.json has no split "minival" \(has train, val, test\)/);
    assert.throws(() => readScienceQaSplit(path.join(SAMPLE, 'images')), /no problems.json/);
    assert.throws(() => readScienceQaSplit(SAMPLE, 'test', 0), /limit must be a positive integer/);

    const broken = tmpCopy();
    fs.rmSync(path.join(broken, 'images/test/105/image.png'));
    assert.throws(() => readScienceQaSplit(broken), /problem 105: image not found \(looked for images\/test\/105\/image.png, images\/105\/image.png\)/);
    fs.copyFileSync(path.join(SAMPLE, 'images/test/105/image.png'), path.join(broken, 'images/test/105/image.png'));
    const problems = JSON.parse(fs.readFileSync(path.join(broken, 'problems.json'), 'utf8'));
    const edit = (f: (p: Record<string, any>) => void) => {
      const copy = JSON.parse(JSON.stringify(problems));
      f(copy);
      fs.writeFileSync(path.join(broken, 'problems.json'), JSON.stringify(copy));
    };
    edit((p) => { p['101'].answer = 2; });
    assert.throws(() => readScienceQaSplit(broken), /problem 101: "answer" 2 is not an index into its 2 choices/);
    edit((p) => { p['101'].choices = 'A or B'; });
    assert.throws(() => readScienceQaSplit(broken), /problem 101: "choices" must be/);
    edit((p) => { p['101'].hint = 7; });
    assert.throws(() => readScienceQaSplit(broken), /problem 101: "hint" must be a string or null/);
    edit((p) => { delete p['112']; });
    assert.throws(() => readScienceQaSplit(broken), /problem 112 of split "test" is not in problems.json/);
    fs.writeFileSync(path.join(broken, 'pid_splits.json'), '{"test": [');
    assert.throws(() => readScienceQaSplit(broken), /pid_splits.json: not valid JSON/);
    await assert.rejects(evaluateScienceQa(stubForSample(), SAMPLE, { topP: 0 }), /topP must be in \(0, 1\]/);
    const failing: ScienceQaGenerator = { generate: async () => { throw new Error('prompt is 900 tokens; the context holds 512'); } };
    await assert.rejects(evaluateScienceQa(failing, SAMPLE), /ScienceQA problem 101: prompt is 900 tokens/);
    await assert.rejects(evaluateScienceQa(stubForSample(), SAMPLE, { maxNewTokens: 1.5 }), /maxNewTokens must be a positive integer/);
  });
});

describe('formatTable1', () => {
  test('header, two-decimal accuracies, "-" for empty columns, optional counts row', () => {
    const { table, counts } = computeTable1([
      { buckets: ['NAT', 'IMG', 'G1-6', 'Avg'], correct: true },
      { buckets: ['NAT', 'NO', 'G1-6', 'Avg'], correct: false },
      { buckets: ['SOC', 'NO', 'G1-6', 'Avg'], correct: false },
    ]);
    const lines = formatTable1(table, counts).split('\n');
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[0].trim().split(/\s+/), [...TABLE1_COLUMNS]);
    assert.deepEqual(lines[1].trim().split(/\s+/), ['50.00', '0.00', '-', '-', '100.00', '0.00', '33.33', '-', '33.33']);
    assert.deepEqual(lines[2].trim().split(/\s+/), ['1/2', '0/1', '0/0', '0/0', '1/1', '0/2', '1/3', '0/0', '1/3']);
    // Columns line up: every row has the same length.
    assert.ok(lines.every((l) => l.length === lines[0].length));
    assert.equal(formatTable1(table).split('\n').length, 2);
  });
});

describe('end to end with the embedded tiny model', () => {
  test('a real run over the sample: well-formed table, counts add up, image problems take the image route', async (t) => {
    const model = await LavinModel.load(TINY_MODEL, { device: 'cpu', threads: 1 });
    try {
      const routes: string[] = [];
      const recording: ScienceQaGenerator = {
        generate: async (req) => {
          const r = await model.generate(req);
          routes.push(r.route);
          assert.ok(r.tokens.length >= 1 && r.tokens.length <= 64);
          return r;
        },
      };
      const r = await evaluateScienceQa(recording, SAMPLE, { seed: 1 });
      t.diagnostic(`tiny model (random weights), ${r.rows.length} problems in ${r.seconds.toFixed(1)} s, ${r.unparsed} unparsed:\n${formatTable1(r.table, r.counts)}`);
      assert.equal(r.rows.length, 12);
      assert.deepEqual(routes, r.rows.map((row) => (row.hasImage ? 'image' : 'text')));
      assert.deepEqual(r.rows.map((row) => row.buckets), Object.values(EXPECTED_BUCKETS));
      // Subjects and grade ranges partition the problems; NO + (TXT or IMG) covers them all.
      const total = r.counts.Avg.total;
      assert.equal(total, 12);
      assert.equal(r.counts.NAT.total + r.counts.SOC.total + r.counts.LAN.total, total);
      assert.equal(r.counts['G1-6'].total + r.counts['G7-12'].total, total);
      assert.equal(r.counts.NAT.correct + r.counts.SOC.correct + r.counts.LAN.correct, r.counts.Avg.correct);
      assert.equal(r.counts['G1-6'].correct + r.counts['G7-12'].correct, r.counts.Avg.correct);
      assert.equal(r.counts.Avg.correct, r.rows.filter((row) => row.correct).length);
      for (const c of TABLE1_COLUMNS) {
        const v = r.table[c]!;
        assert.ok(Number.isFinite(v) && v >= 0 && v <= 100, `${c} = ${v}`);
        assert.equal(v, (r.counts[c].correct / r.counts[c].total) * 100);
      }
      // Each row's score follows from its own output.
      for (const row of r.rows) {
        const parsed = parseAnswer(row.output, JSON.parse(fs.readFileSync(path.join(SAMPLE, 'problems.json'), 'utf8'))[row.pid].choices.length);
        assert.equal(row.predicted, parsed.index);
        assert.equal(row.correct, parsed.index === row.answer);
      }
      // Same seed, same outputs.
      const again = await evaluateScienceQa(model, SAMPLE, { seed: 1, limit: 2 });
      assert.deepEqual(again.rows.map((x) => x.output), r.rows.slice(0, 2).map((x) => x.output));
    } finally {
      await model.dispose();
    }
  });
});
