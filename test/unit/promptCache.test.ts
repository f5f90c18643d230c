// Reusing the previous answer's KV rows: a prompt that starts with the previous call's tokens
// computes only the rest, and gives what a fresh run gives (to the chunked-prefill tolerance);
// anything that changes the rows (modality, image, adapters, a different prefix) reuses nothing.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateIds, IdGenerateRequest, IdGenerateResult, reusableRows } from '../../server/engine/generate';
import { LavinModel } from '../../server/engine/lavinModel';
import { loadModelDir } from '../../server/engine/modelDir';
import { LavinRuntime } from '../../server/engine/runtime';
import { closeness, FIXTURE_DIR, fixtureModelDir, readGoldenJson } from '../golden/fixture';

const golden = readGoldenJson();
const textCase = Object.values(golden.cases).find((c) => c.img_indicator === 0)!;

function worstDifference(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((x, i) => closeness(x, b[i]).maxAbsError));
}

describe('prompt cache (generateIds)', () => {
  let rt: LavinRuntime;
  before(async () => {
    const w = await loadModelDir(fixtureModelDir());
    rt = await LavinRuntime.create(w.cfg, w.tensors, { threads: 1 });
  });
  after(async () => rt?.dispose());

  const first = textCase.gen_prompt_ids;
  const request = (promptIds: number[], extra: Partial<IdGenerateRequest> = {}): IdGenerateRequest => ({ promptIds, modality: 'text', maxNewTokens: 4, stopAtEos: false, keepLogits: true, ...extra });
  const followUp = (r: IdGenerateResult) => [...first, ...r.tokens, ...first.slice(1, 4)]; // the answer, then a next question (ids from the fixture's prompt)

  test('a follow-up computes only its new tokens and matches a fresh run', async () => {
    const r1 = await generateIds(rt, request(first));
    assert.equal(r1.reusedPromptTokens, 0);
    const ids = followUp(r1);
    const fresh = await generateIds(rt, request(ids));
    const reused = await generateIds(rt, request(ids, { reuse: r1.promptCache }));
    // Reference positions: the answer's rows sit one position early, so only the first prompt is reused.
    assert.equal(reused.reusedPromptTokens, first.length);
    assert.deepEqual(reused.tokens, fresh.tokens);
    const worst = worstDifference(reused.stepLogits, fresh.stepLogits);
    assert.ok(worst < 1e-4, `logits differ by ${worst}`);
  });

  test('in consistent positions the fed answer tokens are reused too', async () => {
    const r1 = await generateIds(rt, request(first, { positionMode: 'consistent' }));
    const ids = followUp(r1);
    const fresh = await generateIds(rt, request(ids, { positionMode: 'consistent' }));
    const reused = await generateIds(rt, request(ids, { positionMode: 'consistent', reuse: r1.promptCache }));
    assert.equal(reused.reusedPromptTokens, first.length + r1.tokens.length - 1, 'every fed token (the last one picked was never fed)');
    assert.deepEqual(reused.tokens, fresh.tokens);
    assert.ok(worstDifference(reused.stepLogits, fresh.stepLogits) < 1e-4);
  });

  test('reuse stops where the prompts differ, and never covers the whole prompt', async () => {
    const r1 = await generateIds(rt, request(first));
    const at = Math.floor(first.length / 2);
    const changed = first.slice();
    changed[at] = first.find((id) => id !== first[at])!;
    assert.equal(reusableRows(r1.promptCache, request(changed)), at);
    assert.equal(reusableRows(r1.promptCache, request(first)), first.length - 1, 'the same prompt again: its last token is computed for the logits');
    const fresh = await generateIds(rt, request(changed));
    const reused = await generateIds(rt, request(changed, { reuse: r1.promptCache }));
    assert.deepEqual(reused.tokens, fresh.tokens);
  });

  test('another modality or other visual tokens reuse nothing', async () => {
    const r1 = await generateIds(rt, request(first));
    assert.equal(reusableRows(r1.promptCache, request(first, { modality: 'image' })), 0);
    const dim = rt.cfg.llama.dim;
    const visual = { tokens: new Float32Array(2 * dim).fill(0.5), offset: 2 };
    const withImage = first.map((id, i) => (i >= 2 && i < 4 ? 0 : id));
    const r2 = await generateIds(rt, request(withImage, { modality: 'image', visual }));
    assert.equal(reusableRows(r2.promptCache, request(withImage, { modality: 'image', visual: { tokens: visual.tokens.slice(), offset: 2 } })), withImage.length - 1);
    const other = { tokens: visual.tokens.map((v, i) => (i === 7 ? v + 1 : v)), offset: 2 };
    assert.equal(reusableRows(r2.promptCache, request(withImage, { modality: 'image', visual: other })), 0);
  });

  test('a prompt stopped during prefill leaves nothing to reuse', async () => {
    const r1 = await generateIds(rt, request(first));
    let checks = 0;
    const signal = { get aborted() { return ++checks > 1; } } as AbortSignal; // passes the first check, then aborts between chunks
    const long = [...first, ...new Array(rt.cfg.maxSeqLen - first.length - 8).fill(first[1])];
    const r = await generateIds(rt, request(long, { reuse: r1.promptCache, signal }));
    assert.equal(r.stopReason, 'aborted');
    assert.equal(r.promptCache, undefined);
  });
});

describe('prompt cache (LavinModel)', () => {
  let model: LavinModel;
  before(async () => {
    model = await LavinModel.load(path.resolve(__dirname, '../../../models/lavin-tiny'), { device: 'cpu', threads: 1 });
  });
  after(async () => model?.dispose());

  test("a chat's second turn reuses the first turn's prompt; new adapters and training drop the rows", async () => {
    const turn1 = 'Instruction: what does this function do?\nResponse:';
    const a = await model.generate({ prompt: turn1, maxNewTokens: 6, stopAtEos: false });
    assert.equal(a.reusedPromptTokens, 0);
    const turn2 = `${turn1} ${a.text}\nInstruction: and why?\nResponse:`;
    const b = await model.generate({ prompt: turn2, maxNewTokens: 6, stopAtEos: false });
    assert.ok(b.reusedPromptTokens >= model.promptIds(turn1, false).ids.length - 1, `reused ${b.reusedPromptTokens} tokens`);
    model.restoreAdapters();
    const c = await model.generate({ prompt: turn2, maxNewTokens: 6, stopAtEos: false });
    assert.equal(c.reusedPromptTokens, 0, 'adapters swapped: nothing reused');
    assert.deepEqual(c.tokens, b.tokens, 'the same adapters give the same answer with or without reuse');
    await model.loadWeights(); // what training does first
    const d = await model.generate({ prompt: turn2, maxNewTokens: 6, stopAtEos: false });
    assert.equal(d.reusedPromptTokens, 0, 'training dropped the rows');
  });

  test('a follow-up about the same image runs the ViT once and reuses the rows; another image runs it again', async () => {
    const shot = fs.readFileSync(path.join(FIXTURE_DIR, 'inputs/image.png'));
    const other = fs.readFileSync(path.resolve(__dirname, '../../../test/data/images/inputs/icc-110x70.png'));
    const runtime = model.runtime;
    const encode = runtime.encodeImage.bind(runtime);
    let vitRuns = 0;
    runtime.encodeImage = (pixels) => {
      vitRuns++;
      return encode(pixels);
    };
    try {
      const turn1 = 'Instruction: what is on this screen?\nResponse:';
      const a = await model.generate({ prompt: turn1, image: shot, maxNewTokens: 4, stopAtEos: false });
      const turn2 = `${turn1} ${a.text}\nInstruction: and the button?\nResponse:`;
      const b = await model.generate({ prompt: turn2, image: shot, maxNewTokens: 4, stopAtEos: false });
      assert.equal(vitRuns, 1, 'the same bytes: visual tokens kept');
      assert.ok(b.reusedPromptTokens >= model.promptIds(turn1, true).ids.length - 1, `reused ${b.reusedPromptTokens} tokens`);
      const c = await model.generate({ prompt: turn2, image: other, maxNewTokens: 4, stopAtEos: false });
      assert.equal(vitRuns, 2, 'other bytes: the ViT runs');
      assert.equal(c.reusedPromptTokens, 0, 'other visual tokens: nothing reused');
    } finally {
      runtime.encodeImage = encode;
    }
  });
});
