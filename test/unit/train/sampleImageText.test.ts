// Training samples with images get the text read from their image as context, in inference's format
// (train/data/sampleImageText.ts): where the text goes for each prompt kind, the content-hash cache,
// and, through the real OCR and the embedded model, the check that matters: a LLaVA or docs image
// sample's training tokens equal the tokens the host prefilled for the same image question, up to
// the answer (whole, and cut to the budget), and an image without text adds nothing.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { cutMark, promptTokenBudget } from '../../../server/engine/imageTextContext';
import { GenerateRequest } from '../../../server/engine/api';
import { InferenceSequence, instructionBody, LAVIN_FAMILY, layoutExample, promptText, SequenceTokenizer } from '../../../server/engine/sequence';
import { LavinModel } from '../../../server/engine/lavinModel';
import { ModelHost } from '../../../server/host/modelHost';
import { Workspace } from '../../../server/host/workspace';
import { HostChatMessage } from '../../../server/host/imageInput';
import { buildDocsDataset } from '../../../server/train/data/docs';
import { evaluateScienceQa, readScienceQaSplit } from '../../../server/train/eval/scienceQaEval';
import { loadVisionDataset } from '../../../server/train/data/llavaInstruct';
import { layoutPrefixes, prepareExamples } from '../../../server/train/data/prepare';
import { addImageText, imageSampleWords, ImageTextCache, ImageTextProgress } from '../../../server/train/data/sampleImageText';
import { TextSample } from '../../../server/train/data/tokenize';
import { tempDir } from '../../helpers/tempDir';

const ROOT = path.resolve(__dirname, '../../../..');
const DIALOG = path.join(ROOT, 'media/examples/settings-dialog.png');
const NO_TEXT = path.join(ROOT, 'test/data/images/inputs/rgb-150x97.png');

/** One id per character (BOS 1, EOS 2). */
const charTok: SequenceTokenizer = {
  encode: (text, opts = {}) => [...(opts.bos ? [1] : []), ...[...text].map((c) => c.codePointAt(0)! + 10), ...(opts.eos ? [2] : [])],
};

function tmp(): string {
  return tempDir('lavin-image-text-');
}

describe('where the read text goes (stub reader)', () => {
  const dir = tmp();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = path.join(dir, 'a.png');
  const b = path.join(dir, 'b.png');
  const blank = path.join(dir, 'blank.png');
  fs.writeFileSync(a, 'image bytes A');
  fs.writeFileSync(b, 'image bytes A'); // same content, another name
  fs.writeFileSync(blank, 'image bytes without text');
  let reads: string[] = [];
  const read = async (bytes: Uint8Array) => {
    reads.push(Buffer.from(bytes).toString());
    return Buffer.from(bytes).toString().includes('without') ? [] : [{ text: 'Error 28' }, { text: 'No space left' }];
  };
  const opts = { tok: charTok, nVisual: 3, maxSeqLen: 512, read };

  test('chat: the context field of the newest user turn; ScienceQA: after the hint, or in place of N/A; text prompts and text samples unchanged', async () => {
    reads = [];
    const samples: TextSample[] = [
      { prompt: instructionBody('What is wrong?'), answer: ' disk', imagePath: a, source: 'chat' },
      { prompt: { kind: 'scienceqa', question: 'Which?', hint: 'A log.', choices: ['x', 'y'] }, answer: 'A', imagePath: b, source: 'sqa hint' },
      { prompt: { kind: 'scienceqa', question: 'Which?', hint: '', choices: ['x', 'y'] }, answer: 'A', imagePath: a, source: 'sqa no hint' },
      { prompt: 'Instruction: as is\nResponse:', answer: ' x', imagePath: a, source: 'text prompt' },
      { prompt: instructionBody('No image'), answer: ' x', source: 'text sample' },
      { prompt: instructionBody('Blank?'), answer: ' x', imagePath: blank, source: 'blank' },
    ];
    const r = await addImageText(samples, opts);
    const texts = r.samples.map((s) => promptText(LAVIN_FAMILY, s.prompt));
    assert.equal(texts[0], 'Instruction: What is wrong?\nContext: Error 28\nNo space left\nResponse:');
    assert.equal(texts[1], 'Question: Which?\nContext: A log.\nError 28\nNo space left\nOptions: (A) x (B) y\nResponse:');
    assert.equal(texts[2], 'Question: Which?\nContext: Error 28\nNo space left\nOptions: (A) x (B) y\nResponse:');
    assert.equal(r.samples[3], samples[3], 'a prompt already in the model format has no field to fill');
    assert.equal(r.samples[4], samples[4]);
    assert.equal(r.samples[5], samples[5], 'an image without text adds nothing');
    assert.equal(r.withText, 3);
    assert.deepEqual(reads, ['image bytes A', 'image bytes without text'], 'one OCR run per distinct image content');
    assert.equal(r.imagesRead, 2);
  });

  test('a cache kept across runs reads no image twice', async () => {
    reads = [];
    const cache = new ImageTextCache();
    const samples: TextSample[] = [{ prompt: instructionBody('q'), answer: ' x', imagePath: a, source: 's' }];
    const first = await addImageText(samples, { ...opts, cache });
    const second = await addImageText([{ ...samples[0], imagePath: b }], { ...opts, cache });
    assert.equal(first.imagesRead, 1);
    assert.equal(second.imagesRead, 0);
    assert.deepEqual(reads, ['image bytes A']);
    assert.deepEqual(second.samples[0].prompt, first.samples[0].prompt);
  });

  test('too much text is cut at a line with the mark, within the budget inference gives it; the cut is told', async () => {
    const many = async () => Array.from({ length: 200 }, (_, i) => ({ text: `log line ${i}` }));
    const r = await addImageText([{ prompt: instructionBody('q'), answer: ' x', imagePath: a, source: 'long' }], { ...opts, read: many });
    const context = (r.samples[0].prompt as { context: string }).context;
    const kept = context.split('\n').length - 1;
    assert.ok(kept > 0 && kept < 200);
    assert.ok(context.endsWith(cutMark(200 - kept)));
    // charTok: one token per character; the budget is half of inference's prompt budget for 512 positions
    const added = promptText(LAVIN_FAMILY, r.samples[0].prompt).length - promptText(LAVIN_FAMILY, instructionBody('q')).length;
    assert.ok(added <= promptTokenBudget(512) / 2, `${added} tokens added`);
    assert.deepEqual(r.notices, [`long: The text read from the image was cut to its first ${kept} of 200 lines (token budget ${promptTokenBudget(512) / 2}).`]);
  });

  test('progress: (0, total) first, one step per distinct image file, ending at (total, total) with the images that had text; none without images', async () => {
    const seen: ImageTextProgress[] = [];
    const samples: TextSample[] = [
      { prompt: instructionBody('q1'), answer: ' x', imagePath: a, source: 's1' },
      { prompt: instructionBody('q2'), answer: ' x', imagePath: a, source: 's2' }, // the same file again: no step
      { prompt: instructionBody('no image'), answer: ' x', source: 's3' },
      { prompt: instructionBody('q4'), answer: ' x', imagePath: blank, source: 's4' },
      { prompt: 'Instruction: as is\nResponse:', answer: ' x', imagePath: path.join(dir, 'never-read.png'), source: 's5' }, // nothing to fill: not counted
      { prompt: instructionBody('q6'), answer: ' x', imagePath: b, source: 's6' }, // a's bytes under another name: a cache hit, still a step
    ];
    await addImageText(samples, { ...opts, onProgress: (p) => seen.push(p) });
    assert.deepEqual(seen, [{ done: 0, total: 3, withText: 0 }, { done: 1, total: 3, withText: 1 }, { done: 2, total: 3, withText: 1 }, { done: 3, total: 3, withText: 2 }]);
    const none: ImageTextProgress[] = [];
    await addImageText([{ prompt: instructionBody('q'), answer: ' x', source: 't' }], { ...opts, onProgress: (p) => none.push(p) });
    assert.deepEqual(none, []);
  });

  test('an aborted signal stops reading: the samples not reached come back as they were', async () => {
    reads = [];
    const ac = new AbortController();
    const samples: TextSample[] = [
      { prompt: instructionBody('q1'), answer: ' x', imagePath: a, source: 's1' },
      { prompt: instructionBody('q2'), answer: ' x', imagePath: blank, source: 's2' },
    ];
    const r = await addImageText(samples, { ...opts, signal: ac.signal, onProgress: (p) => p.done === 1 && ac.abort() });
    assert.equal(r.samples.length, 2);
    assert.notEqual(r.samples[0], samples[0], 'the first image was read');
    assert.equal(r.samples[1], samples[1]);
    assert.deepEqual(reads, ['image bytes A']);
  });

  test('a missing image names the sample', async () => {
    await assert.rejects(addImageText([{ prompt: instructionBody('q'), answer: ' x', imagePath: path.join(dir, 'gone.png'), source: 'data.json#3' }], opts), /^Error: data\.json#3: image .*gone\.png/);
  });
});

test('lavin eval --image-text: ScienceQA image problems get the read text after the hint, as training; other problems keep the paper prompt', async () => {
  const dir = path.join(ROOT, 'test/data/scienceqa-sample');
  const items = readScienceQaSplit(dir, 'test');
  const run = async (imageText?: Parameters<typeof addImageText>[1]) => {
    const seen = new Map<string, string>();
    let i = 0;
    await evaluateScienceQa({ generate: async (req) => (seen.set(items[i++].pid, promptText(LAVIN_FAMILY, req.prompt)), { text: 'The answer is A.' }) }, dir, { greedy: true, imageText });
    return seen;
  };
  const paper = await run();
  const read = async () => [{ text: 'Read 1' }, { text: 'Read 2' }];
  const withText = await run({ tok: charTok, nVisual: 3, maxSeqLen: 512, read });
  for (const item of items) {
    assert.equal(paper.get(item.pid), item.prompt, 'no option: the paper prompt');
    const p = item.problem;
    const expected = item.imagePath ? promptText(LAVIN_FAMILY, { kind: 'scienceqa', question: p.question, hint: [p.hint?.trim(), 'Read 1\nRead 2'].filter(Boolean).join('\n'), choices: p.choices }) : item.prompt;
    assert.equal(withText.get(item.pid), expected, `problem ${item.pid}`);
  }
  assert.ok(items.some((i) => i.imagePath && i.problem.hint) && items.some((i) => i.imagePath && !i.problem.hint), 'both image kinds are in the sample');
  // the training side gives the same text for the same problem
  const train = await addImageText([{ prompt: { kind: 'scienceqa', question: items[0].problem.question, hint: items[0].problem.hint, choices: items[0].problem.choices }, answer: 'A', imagePath: items[0].imagePath, source: 't' }], { tok: charTok, nVisual: 3, maxSeqLen: 512, read });
  assert.equal(promptText(LAVIN_FAMILY, train.samples[0].prompt), withText.get(items[0].pid));
});

describe('training and inference see one format (real OCR, embedded model)', () => {
  let host: ModelHost;
  let model: LavinModel;
  let dir: string;
  /** The sequences the host's model prefilled, in order (captured from LavinModel.generate). */
  const prefilled: InferenceSequence[] = [];
  const generate = LavinModel.prototype.generate;

  before(async () => {
    dir = tmp();
    LavinModel.prototype.generate = function (this: LavinModel, req: GenerateRequest) {
      prefilled.push(this.promptIds(req.prompt, req.image !== undefined && this.seesImages, req.raw));
      return generate.call(this, req);
    };
    host = new ModelHost({ workspace: new Workspace([dir]), modelDir: path.join(ROOT, 'models/lavin-tiny'), device: 'cpu', threads: 1 });
    model = await LavinModel.load(path.join(ROOT, 'models/lavin-tiny'), { device: 'cpu', threads: 1 });
    // The dialog three times, one under the other: more text than the embedded model's budget holds (128 tokens).
    const dialog = await sharp(DIALOG).metadata();
    const tall = await sharp({ create: { width: dialog.width!, height: dialog.height! * 3, channels: 3, background: '#ffffff' } })
      .composite([0, 1, 2].map((k) => ({ input: DIALOG, top: k * dialog.height!, left: 0 }))).png().toBuffer();
    fs.mkdirSync(path.join(dir, 'images'));
    fs.copyFileSync(DIALOG, path.join(dir, 'images/dialog.png'));
    fs.writeFileSync(path.join(dir, 'images/tall.png'), tall);
    fs.copyFileSync(NO_TEXT, path.join(dir, 'images/blank.png'));
  });
  after(async () => {
    LavinModel.prototype.generate = generate;
    await host?.dispose();
    await model?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** What the host prefilled for a chat about `image`, and the text it gave the model. */
  async function ask(messages: HostChatMessage[]): Promise<{ ids: InferenceSequence; imageText: string; notices: string[] }> {
    prefilled.length = 0;
    // The host's default answer length: the budget training assumes (a request asking for more gets less prompt).
    const r = await host.chat({ messages, temperature: 0 });
    assert.equal(prefilled.length, 1);
    return { ids: prefilled[0], imageText: r.imageText ?? '', notices: r.notices };
  }

  /** A sample's training layout up to the answer equals the inference sequence; the answer is labelled whole. */
  async function assertSameAsInference(sample: TextSample, inference: InferenceSequence): Promise<void> {
    const tok = model.tokenizer;
    const nVisual = model.runtime.cfg.adapter.nVisualTokens;
    const maxWords = imageSampleWords([sample], tok, nVisual);
    assert.ok(maxWords <= model.info.maxSeqLen);
    const [example] = await prepareExamples([sample], tok, { maxWords, imageSize: model.runtime.cfg.clip!.resolution });
    const laid = layoutExample(example, { seqLen: maxWords, ...layoutPrefixes(tok), nVisual });
    assert.equal(laid.modality, inference.modality);
    const n = inference.ids.length;
    assert.deepEqual(laid.slots.slice(0, n).map((s) => ('token' in s ? s.token : 0)), inference.ids, 'the same ids up to the answer');
    assert.deepEqual(laid.slots.flatMap((s, i) => ('visual' in s ? [i] : [])), Array.from({ length: nVisual }, (_, v) => inference.visual!.offset + v));
    assert.ok(laid.labelsInserted.slice(0, n + 1).every((l) => l === 0), 'no label inside the prompt');
    const promptIds = tok.encode(promptText(LAVIN_FAMILY, sample.prompt), { bos: true });
    const answerIds = tok.encode(promptText(LAVIN_FAMILY, sample.prompt) + sample.answer, { bos: true, eos: true }).slice(promptIds.length);
    assert.deepEqual(laid.labelsInserted.slice(n + 1, n + 1 + answerIds.length), answerIds, 'the whole answer (and EOS) is labelled');
  }

  test('LLaVA conversation about a screenshot: each turn trains on the prompt the host gives that question', async () => {
    const data = [{ id: 'd1', image: 'images/dialog.png', conversations: [
      { from: 'human', value: '<image>\nWhat does the dialog say?' }, { from: 'gpt', value: 'The access token expired.' },
      { from: 'human', value: 'How do I fix it?' }, { from: 'gpt', value: 'Generate a new token.' },
    ] }];
    fs.writeFileSync(path.join(dir, 'data.json'), JSON.stringify(data));
    const loaded = await loadVisionDataset(dir);
    const { samples, withText } = await addImageText(loaded.samples, { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen, threads: 1 });
    assert.equal(withText, 2);
    const image = fs.readFileSync(path.join(dir, 'images/dialog.png'));
    const first = await ask([{ role: 'user', content: 'What does the dialog say?', images: [image] }]);
    assert.match(first.imageText, /Token expired 3 days ago/, 'the host read the dialog');
    assert.equal((samples[0].prompt as { context?: string }).context, first.imageText, 'the same read text');
    await assertSameAsInference(samples[0], first.ids);
    const second = await ask([
      { role: 'user', content: 'What does the dialog say?', images: [image] }, { role: 'assistant', content: 'The access token expired.' },
      { role: 'user', content: 'How do I fix it?' },
    ]);
    assert.equal((samples[1].prompt as { context?: string }).context, second.imageText);
    await assertSameAsInference(samples[1], second.ids);
  });

  test('text beyond the budget: the same lines, the same cut mark, the same tokens', async () => {
    const cache = new ImageTextCache();
    const sample: TextSample = { prompt: instructionBody('What does it say?'), answer: ' Two dialogs.', imagePath: path.join(dir, 'images/tall.png'), source: 'tall' };
    const r = await addImageText([sample], { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen, cache, threads: 1 });
    const inference = await ask([{ role: 'user', content: 'What does it say?', images: [fs.readFileSync(sample.imagePath!)] }]);
    assert.match(inference.imageText, /more line\(s\) read from the image were cut to fit the token budget\]$/, 'the host cut the text');
    assert.equal((r.samples[0].prompt as { context?: string }).context, inference.imageText);
    assert.equal(r.notices.length, 1);
    assert.ok(inference.notices.includes(r.notices[0].replace(/^tall: /, '')), 'the same cut notice');
    await assertSameAsInference(r.samples[0], inference.ids);
    assert.equal(cache.reads, 1);
  });

  test('a docs image (Markdown link) trains on the prompt the host gives "Describe this image." about it', async () => {
    const docs = path.join(dir, 'docs');
    fs.mkdirSync(docs);
    fs.copyFileSync(DIALOG, path.join(docs, 'dialog.png'));
    fs.writeFileSync(path.join(docs, 'guide.md'), '# Connect\n\nThe connect dialog asks for the cluster URL and a token.\n\n![The connect dialog](dialog.png)\n');
    const built = buildDocsDataset(docs).samples.filter((s) => s.imagePath);
    assert.equal(built.length, 1);
    const { samples } = await addImageText(built, { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen, threads: 1 });
    const inference = await ask([{ role: 'user', content: 'Describe this image.', images: [fs.readFileSync(DIALOG)] }]);
    assert.match(inference.imageText, /Cluster URL/);
    await assertSameAsInference(samples[0], inference.ids);
  });

  test('an image without text adds nothing: the tokens are those without OCR', async () => {
    const sample: TextSample = { prompt: instructionBody('What is this?'), answer: ' Noise.', imagePath: path.join(dir, 'images/blank.png'), source: 'blank' };
    const r = await addImageText([sample], { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen, threads: 1 });
    assert.equal(r.samples[0], sample);
    assert.equal(r.withText, 0);
    const inference = await ask([{ role: 'user', content: 'What is this?', images: [fs.readFileSync(sample.imagePath!)] }]);
    assert.equal(inference.imageText, '');
    assert.deepEqual(inference.ids, model.promptIds(instructionBody('What is this?'), true), 'the host added no context either');
    await assertSameAsInference(r.samples[0], inference.ids);
  });
});

test('progress with the real reader on generated images: monotonic, one step per image, ending at (total, total)', async () => {
  const dir = tmp();
  try {
    const dialog = await sharp(DIALOG).metadata();
    const half = Math.floor(dialog.height! / 2);
    const images = {
      top: await sharp(DIALOG).extract({ left: 0, top: 0, width: dialog.width!, height: half }).png().toBuffer(),
      bottom: await sharp(DIALOG).extract({ left: 0, top: half, width: dialog.width!, height: dialog.height! - half }).png().toBuffer(),
      plain: await sharp({ create: { width: 96, height: 64, channels: 3, background: '#3a7bd5' } }).png().toBuffer(),
    };
    const samples: TextSample[] = Object.entries(images).map(([name, bytes]) => {
      fs.writeFileSync(path.join(dir, `${name}.png`), bytes);
      return { prompt: instructionBody(`What is in ${name}?`), answer: ' x', imagePath: path.join(dir, `${name}.png`), source: name };
    });
    const seen: ImageTextProgress[] = [];
    const r = await addImageText(samples, { tok: charTok, nVisual: 3, maxSeqLen: 512, threads: 1, onProgress: (p) => seen.push(p) });
    assert.deepEqual(seen.map((p) => p.done), [0, 1, 2, 3]);
    assert.ok(seen.every((p) => p.total === 3));
    assert.ok(seen.every((p, i) => i === 0 || p.withText >= seen[i - 1].withText), 'images with text only grow');
    assert.deepEqual(seen.at(-1), { done: 3, total: 3, withText: r.withText });
    assert.equal(r.withText, 2, 'both halves of the dialog have text, the plain image none');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
