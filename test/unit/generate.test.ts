// Generation behaviour beyond the goldens: EOS stop, cancellation within one token, seeded
// sampling, streaming order and context limits — on the fixture's official-format weights.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateIds, IdGenerateRequest } from '../../server/engine/generate';
import { loadModelDir } from '../../server/engine/modelDir';
import { KvCache, LavinRuntime } from '../../server/engine/runtime';
import { closeness, fixtureModelDir, readGoldenJson } from '../golden/fixture';

const golden = readGoldenJson();
const textCase = Object.values(golden.cases).find((c) => c.img_indicator === 0)!;

describe('generation', () => {
  let rt: LavinRuntime;
  before(async () => {
    const w = await loadModelDir(fixtureModelDir());
    rt = await LavinRuntime.create(w.cfg, w.tensors, { threads: 1 });
  });
  after(async () => rt?.dispose());

  const base = (): IdGenerateRequest => ({ promptIds: textCase.gen_prompt_ids, modality: 'text', maxNewTokens: textCase.gen_tokens.length, stopAtEos: false });

  test('stops at EOS, and the EOS token is the last one returned', async () => {
    const greedy = await generateIds(rt, base());
    const eosAt = 3;
    const r = await generateIds(rt, { ...base(), stopAtEos: true, eosId: greedy.tokens[eosAt] });
    assert.equal(r.stopReason, 'eos');
    assert.deepEqual(r.tokens, greedy.tokens.slice(0, eosAt + 1));
  });

  test('an abort during token k stops after token k (within one token)', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const r = await generateIds(rt, { ...base(), signal: ac.signal, onToken: (id, i) => { seen.push(i); if (i === 2) ac.abort(); } });
    assert.equal(r.stopReason, 'aborted');
    assert.equal(r.tokens.length, 3);
    assert.deepEqual(seen, [0, 1, 2]);
  });

  test('an already-aborted request computes nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await generateIds(rt, { ...base(), signal: ac.signal });
    assert.equal(r.stopReason, 'aborted');
    assert.equal(r.tokens.length, 0);
  });

  test('a prompt prefilled in chunks gives the logits of one call, and its cache decodes the same', async () => {
    const ids = textCase.gen_prompt_ids;
    const router = await rt.routerTable('text');
    const run = async (chunk: number) => {
      const cache = KvCache.empty(rt.cfg);
      const out = (await rt.prefill({ embeds: rt.embed(ids), positions: ids.map((_, j) => j + 1), routerWeights: router, cache }, undefined, chunk))!;
      assert.equal(cache.length, ids.length);
      const next = await rt.step({ embeds: rt.embed([ids[1]]), positions: [ids.length + 1], routerWeights: router, cache });
      return [out.logits, next.logits];
    };
    const whole = await run(ids.length);
    for (const chunk of [1, 3, 7]) {
      const got = await run(chunk);
      for (const [g, w] of got.map((g, i) => [g, whole[i]])) {
        const worst = closeness(g, w).maxAbsError;
        assert.ok(worst < 1e-4, `chunks of ${chunk}: logits differ by ${worst}`);
      }
    }
  });

  test('an abort between prefill chunks stops the prompt there', async () => {
    const ids = textCase.gen_prompt_ids;
    let checks = 0;
    const signal = { get aborted() { return ++checks > 2; } } as AbortSignal; // aborts before the third chunk
    const cache = KvCache.empty(rt.cfg);
    const out = await rt.prefill({ embeds: rt.embed(ids), positions: ids.map((_, j) => j + 1), routerWeights: await rt.routerTable('text'), cache }, signal, 2);
    assert.equal(out, undefined);
    assert.equal(cache.length, 4, 'two chunks of 2 were run');
  });

  test('sampling is reproducible with a seed and varies across seeds', async () => {
    const sample = (seed: number) => generateIds(rt, { ...base(), temperature: 1.5, topP: 0.95, seed });
    const a = await sample(1);
    const b = await sample(1);
    assert.deepEqual(a.tokens, b.tokens);
    const others = await Promise.all([2, 3, 4].map(sample));
    assert.ok(others.some((o) => o.tokens.join() !== a.tokens.join()), 'four seeds gave identical samples');
  });

  test('streams every token in order', async () => {
    const streamed: number[] = [];
    const r = await generateIds(rt, { ...base(), onToken: (id) => streamed.push(id) });
    assert.deepEqual(streamed, r.tokens);
  });

  test('prompts that do not fit the context are refused with a clear error', async () => {
    const long = new Array(rt.cfg.maxSeqLen).fill(textCase.gen_prompt_ids[1]);
    await assert.rejects(generateIds(rt, { ...base(), promptIds: long }), /does not fit the context/);
    await assert.rejects(generateIds(rt, { ...base(), promptIds: [] }), /empty prompt/);
  });

  test('generation ends with context-full when the cache reaches the context length', async () => {
    const promptIds = new Array(rt.cfg.maxSeqLen - 3).fill(textCase.gen_prompt_ids[1]);
    const r = await generateIds(rt, { ...base(), promptIds, maxNewTokens: 10 });
    assert.equal(r.stopReason, 'context-full');
    assert.equal(r.tokens.length, 3, 'prompt + generated tokens fill the context exactly');
  });

  test('token ids outside the vocabulary are rejected', () => {
    assert.throws(() => rt.embed([rt.cfg.llama.vocab]), /outside the vocabulary/);
    assert.throws(() => rt.embed([-1]), /outside the vocabulary/);
  });
});
