// Data: the reference's tokenisation (labels, padding, truncation), the training layout, the chat
// and ScienceQA loaders, and the docs-folder builder's boundaries (.gitignore, binaries, huge
// files, links and image references leading outside the folder).

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { describe, test } from 'node:test';
import { loadChatFile } from '../../../server/train/data/chat';
import { buildDocsDataset } from '../../../server/train/data/docs';
import { loadScienceQa, scienceQaPrompt } from '../../../server/train/data/scienceqa';
import { chatPrompt, TextTokenizer, tokenizeExample } from '../../../server/train/data/tokenize';
import { LAVIN_FAMILY, layoutExample, promptText } from '../../../server/engine/sequence';
import { tempDir } from '../../helpers/tempDir';

/** One id per character (code + 3), BOS 1 / EOS 2: enough to check positions exactly. */
const charTok: TextTokenizer = {
  encode: (s, o = {}) => [...(o.bos ? [1] : []), ...Array.from(s, (c) => c.charCodeAt(0) + 3), ...(o.eos ? [2] : [])],
};

const REPO = path.resolve(__dirname, '../../../..');
const IMAGE = path.join(REPO, 'test/data/images/inputs/grey-150x100.png');

function tmp(): string {
  return tempDir('lavin-data-');
}

describe('tokenisation and layout', () => {
  test('ScienceQADataSet.tokenize: BOS+prompt masked, EOS kept, zero padding', () => {
    const ex = tokenizeExample(charTok, 'ab', 'cd', 8);
    assert.deepEqual(ex.inputIds, [1, 100, 101, 102, 103, 2, 0, 0]);
    assert.deepEqual(ex.labels, [0, 0, 0, 102, 103, 2, 0, 0]);
  });

  test('truncation drops EOS when the example is longer than max_words', () => {
    const ex = tokenizeExample(charTok, 'ab', 'cdef', 5);
    assert.deepEqual(ex.inputIds, [1, 100, 101, 102, 103]);
    assert.deepEqual(ex.labels, [0, 0, 0, 102, 103]);
    assert.throws(() => tokenizeExample(charTok, 'a', 'b', 1), /max_words/);
  });

  test('layout: [mod] BOS prefix [visual] rest, truncated to max_words, labels aligned', () => {
    const ex = tokenizeExample(charTok, 'ab', 'cd', 10, 'image', new Float32Array(1));
    const l = layoutExample(ex, { seqLen: 10, prefixImage: [7, 8], prefixText: [7, 9, 9], nVisual: 3 });
    assert.deepEqual(l.slots, [{ token: 1 }, { token: 7 }, { token: 8 }, { visual: 0 }, { visual: 1 }, { visual: 2 }, { token: 100 }, { token: 101 }, { token: 102 }]);
    assert.deepEqual(l.labelsInserted, [0, 0, 0, 0, 0, 0, 0, 0, 0, 102]);
    const t = layoutExample(tokenizeExample(charTok, 'ab', 'cd', 10), { seqLen: 10, prefixImage: [7, 8], prefixText: [7, 9, 9], nVisual: 3 });
    assert.deepEqual(t.slots.map((s) => ('token' in s ? s.token : -1)), [1, 7, 9, 9, 100, 101, 102, 103, 2]);
    assert.deepEqual(t.labelsInserted, [0, 0, 0, 0, 0, 0, 0, 102, 103, 2]);
    assert.throws(() => layoutExample({ ...ex, pixels: undefined }, { seqLen: 10, prefixImage: [], prefixText: [], nVisual: 1 }), /image example without pixels/);
  });
});

describe('loaders', () => {
  test('chat JSON / JSONL, LLaVA conversations, images inside the folder only', () => {
    const dir = tmp();
    fs.copyFileSync(IMAGE, path.join(dir, 'a.png'));
    fs.writeFileSync(path.join(dir, 'data.json'), JSON.stringify([
      { instruction: 'Say hi', output: 'hi' },
      { instruction: 'Describe', input: 'briefly', output: 'grey', image: 'a.png' },
      { conversations: [{ from: 'human', value: '<image>\nWhat is it?' }, { from: 'gpt', value: 'A grey box.' }], image: 'a.png' },
    ]));
    const s = loadChatFile(path.join(dir, 'data.json'));
    assert.equal(s[0].prompt, 'Instruction: Say hi\nResponse:');
    assert.equal(s[1].prompt, chatPrompt('Describe', 'briefly'));
    assert.equal(s[1].imagePath, path.join(dir, 'a.png'));
    assert.equal(s[2].prompt, 'Instruction: What is it?\nResponse:');
    fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"instruction": "x", "output": "y"}\n{oops\n');
    assert.throws(() => loadChatFile(path.join(dir, 'bad.jsonl')), /bad\.jsonl line 2: not valid JSON/);
    fs.writeFileSync(path.join(dir, 'escape.jsonl'), '{"instruction": "x", "output": "y", "image": "../../etc/passwd"}\n');
    assert.throws(() => loadChatFile(path.join(dir, 'escape.jsonl')), /points outside/);
    fs.writeFileSync(path.join(dir, 'noout.json'), '[{"instruction": "x"}]');
    assert.throws(() => loadChatFile(path.join(dir, 'noout.json')), /noout\.json#1: "output" must be a string/);
  });

  test('ScienceQA layout with QCM-ALE prompts', () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'images/train/7'), { recursive: true });
    fs.copyFileSync(IMAGE, path.join(dir, 'images/train/7/image.png'));
    fs.writeFileSync(path.join(dir, 'problems.json'), JSON.stringify({
      7: { question: 'Which is a mammal?', choices: ['cat', 'trout'], answer: 0, hint: '', image: 'image.png', lecture: 'Mammals have fur.', solution: 'A cat has fur.', split: 'train' },
      8: { question: 'Q?', choices: ['x', 'y', 'z'], answer: 2, hint: 'ctx', image: null, lecture: '', solution: '', split: 'train' },
    }));
    fs.writeFileSync(path.join(dir, 'pid_splits.json'), JSON.stringify({ train: ['7', '8'], test: [] }));
    const s = loadScienceQa(dir);
    assert.equal(promptText(LAVIN_FAMILY, s[0].prompt), 'Question: Which is a mammal?\nContext: N/A\nOptions: (A) cat (B) trout\nResponse:');
    assert.equal(s[0].answer, 'The answer is A. BECAUSE: Mammals have fur. A cat has fur.');
    assert.ok(s[0].imagePath?.endsWith('images/train/7/image.png'));
    assert.equal(s[1].answer, 'The answer is C.');
    assert.equal(scienceQaPrompt({ question: 'q', choices: ['a'], answer: 0, hint: 'h' }).prompt, 'Question: q\nContext: h\nOptions: (A) a\nResponse:');
    assert.throws(() => loadScienceQa(dir, 'val'), /no split "val"/);
  });
});

describe('docs folder dataset', () => {
  test('sections and captioned images; .gitignore, binaries, huge files and outside links are skipped', () => {
    const outside = tmp();
    fs.writeFileSync(path.join(outside, 'secret.md'), '# Secret\n\nThis must never be read by the docs builder at all.');
    fs.copyFileSync(IMAGE, path.join(outside, 'outside.png'));
    const root = tmp();
    fs.mkdirSync(path.join(root, 'docs/img'), { recursive: true });
    fs.copyFileSync(IMAGE, path.join(root, 'docs/img/shot.png'));
    fs.writeFileSync(path.join(root, '.gitignore'), 'build/\n*.log.md\n');
    fs.mkdirSync(path.join(root, 'build'));
    fs.writeFileSync(path.join(root, 'build/out.md'), '# Built\n\nGenerated output that is ignored by the gitignore file.');
    fs.writeFileSync(path.join(root, 'debug.log.md'), '# Log\n\nIgnored log file with enough characters to count.');
    fs.writeFileSync(path.join(root, 'docs/guide.md'), [
      '---', 'title: Guide', '---', '# Install', '', 'Run the installer and pick the model folder that holds model.json.',
      '```', '# not a heading', '```', '', '![Settings screen](img/shot.png "The settings screen")',
      '![](img/shot.png)', '![Escapes](../../' + path.basename(outside) + '/outside.png)', '## Usage', '', 'Open the panel, paste a screenshot and ask a question about it.',
    ].join('\n'));
    fs.writeFileSync(path.join(root, 'docs/page.mdx'), "import X from './x'\n# Page\n\n<Callout>\nMDX body text long enough to become a training sample here.\n</Callout>\n");
    fs.writeFileSync(path.join(root, 'docs/api.rst'), 'API\n===\n\nThe API section explains every endpoint in detail for users.\n\n.. figure:: img/shot.png\n   :alt: A screenshot\n\n   The caption of the figure.\n');
    fs.writeFileSync(path.join(root, 'docs/blob.md'), Buffer.from([35, 32, 0, 1, 2, 3]));
    fs.writeFileSync(path.join(root, 'docs/huge.md'), '# Huge\n\n' + 'x'.repeat(3000));
    fs.symlinkSync(path.join(outside, 'secret.md'), path.join(root, 'docs/link.md'));
    fs.symlinkSync(outside, path.join(root, 'docs/linkdir'));

    const { samples, summary } = buildDocsDataset(root, { maxFileBytes: 2000, minSectionChars: 20 });
    const sources = samples.map((s) => s.source);
    assert.ok(sources.includes('docs/guide.md#Install'));
    assert.ok(sources.includes('docs/guide.md#Usage'));
    assert.ok(sources.includes('docs/page.mdx#Page'));
    assert.ok(sources.includes('docs/api.rst#API'));
    const install = samples.find((s) => s.source === 'docs/guide.md#Install')!;
    assert.ok(!install.answer.includes('title: Guide') && install.answer.includes('# not a heading'));
    assert.ok(!samples.find((s) => s.source === 'docs/page.mdx#Page')!.answer.includes('import'));
    const images = samples.filter((s) => s.imagePath);
    assert.deepEqual(images.map((s) => s.answer).sort(), ['A screenshot. The caption of the figure.', 'Settings screen. The settings screen']);
    assert.ok(images.every((s) => s.imagePath!.startsWith(root)));
    assert.ok(!samples.some((s) => /Secret|Built|Ignored log/.test(s.answer)));
    const reasons = new Map(summary.skipped.map((s) => [s.path, s.reason]));
    assert.equal(reasons.get('build'), 'ignored by .gitignore');
    assert.equal(reasons.get('debug.log.md'), 'ignored by .gitignore');
    assert.equal(reasons.get('docs/blob.md'), 'binary content');
    assert.match(reasons.get('docs/huge.md')!, /larger than 2000 bytes/);
    assert.match(reasons.get('docs/link.md')!, /symbolic link/);
    assert.match(reasons.get('docs/linkdir')!, /symbolic link/);
    assert.ok([...reasons].some(([p, r]) => p.includes('Escapes') || (p.includes('outside.png') && /outside/.test(r))));
    assert.equal(summary.imageSamples, 2);
    assert.equal(summary.textSamples, samples.length - 2);
    assert.throws(() => buildDocsDataset(path.join(root, 'nope')), /does not exist/);
  });
});
