// The forward-pass golden checks, as data: each check compares one golden of the fixture with what
// the engine computes. The suite runs them; the perturbation test runs them against altered
// goldens to prove they can fail.

import { generateIds } from '../../server/engine/generate';
import { LavinRuntime, Modality } from '../../server/engine/runtime';
import { assertClose, GoldenJson, GoldenTensor, prefixIds } from './fixture';

export interface ForwardContext {
  runtime: LavinRuntime;
  golden: GoldenJson;
  tensors: Map<string, GoldenTensor>;
}

export interface Check {
  name: string;
  /** Golden tensor names (or golden.json fields) this check reads. */
  reads: string[];
  run: (ctx: ForwardContext) => Promise<string>;
  /** Why this fixture set cannot run the check (reported as a skip), or undefined when it can. */
  skipReason?: (golden: GoldenJson) => string | undefined;
}

function tensor(ctx: ForwardContext, name: string): GoldenTensor {
  const t = ctx.tensors.get(name);
  if (!t) throw new Error(`golden.safetensors has no ${name}`);
  return t;
}

function modalityOf(c: { img_indicator: number }): Modality {
  return c.img_indicator === 1 ? 'image' : 'text';
}

/** Pixels each case's CLIP pass sees: the image for the image case, zeros for text-only (as eval.py). */
function pixelsFor(ctx: ForwardContext, m: Modality): Float32Array {
  const px = tensor(ctx, 'input.image_pixels');
  return m === 'image' ? px.data : new Float32Array(px.data.length);
}

function fmt(c: { maxAbsError: number; bound: number }): string {
  return `max |err| ${c.maxAbsError.toExponential(2)} (bound ${c.bound.toExponential(2)})`;
}

/** The LLM input of the training layout for a case, as embeddings (without the modality token). */
async function trainingEmbeds(ctx: ForwardContext, caseName: string): Promise<Float32Array> {
  const { runtime, golden } = ctx;
  const c = golden.cases[caseName];
  const m = modalityOf(c);
  const dim = runtime.cfg.llama.dim;
  const maxWords = golden.config.max_words;
  const ids = c.train_input_ids;
  const prefix = prefixIds(golden, m === 'image' ? 'prefix_img_ids' : 'prefix_nonimg_ids');
  const visual = m === 'image' ? (await runtime.encodeImage(pixelsFor(ctx, m))).visualTokens : new Float32Array(0);
  const nVisual = visual.length / dim;
  // [BOS] prefix [V] rest, truncated to max_words; the modality token is then prepended and the
  // whole truncated to max_words again — so the token part keeps max_words - 1 entries.
  const layout: (number | 'v')[] = [ids[0], ...prefix, ...Array<'v'>(nVisual).fill('v'), ...ids.slice(1)].slice(0, maxWords).slice(0, maxWords - 1);
  const out = new Float32Array(layout.length * dim);
  let v = 0;
  layout.forEach((t, i) => {
    out.set(t === 'v' ? visual.subarray(v++ * dim, v * dim) : runtime.embed([t]), i * dim);
  });
  return out;
}

export function forwardChecks(caseNames: string[]): Check[] {
  const checks: Check[] = [];
  for (const name of caseNames) {
    checks.push({
      name: `${name}: CLIP class-token taps, per-token router weights and visual tokens`,
      reads: [`${name}.clip_cls_feats`, `${name}.clip_router_weights`, `${name}.visual_tokens`],
      async run(ctx) {
        const m = modalityOf(ctx.golden.cases[name]);
        const r = await ctx.runtime.encodeImage(pixelsFor(ctx, m));
        const a = assertClose(`${name}.clip_cls_feats`, r.features, tensor(ctx, `${name}.clip_cls_feats`));
        const b = assertClose(`${name}.clip_router_weights`, r.clipRouterWeights, tensor(ctx, `${name}.clip_router_weights`));
        const c = assertClose(`${name}.visual_tokens`, r.visualTokens, tensor(ctx, `${name}.visual_tokens`));
        return `features ${fmt(a)}; routes ${fmt(b)}; visual tokens ${fmt(c)}`;
      },
    });
    checks.push({
      name: `${name}: LLM router weights per layer`,
      reads: [`${name}.router_weights`],
      async run(ctx) {
        const w = await ctx.runtime.routerTable(modalityOf(ctx.golden.cases[name]));
        return fmt(assertClose(`${name}.router_weights`, w, tensor(ctx, `${name}.router_weights`)));
      },
    });
    checks.push({
      name: `${name}: teacher-forced logits at every position`,
      reads: [`${name}.train.logits`],
      async run(ctx) {
        const m = modalityOf(ctx.golden.cases[name]);
        const expected = tensor(ctx, `${name}.train.logits`);
        const logits = await ctx.runtime.teacherForced(m, await trainingEmbeds(ctx, name));
        if (logits.length !== expected.data.length) throw new Error(`logits: ${logits.length} values, golden has [${expected.shape}]`);
        return fmt(assertClose(`${name}.train.logits`, logits, expected));
      },
    });
    checks.push({
      name: `${name}: greedy tokens and each step's logits through the KV cache (reference positions)`,
      reads: [`${name}.gen.tokens`, `${name}.gen.step_logits`],
      async run(ctx) {
        const c = ctx.golden.cases[name];
        const m = modalityOf(c);
        const dim = ctx.runtime.cfg.llama.dim;
        const promptIds = Array.from(tensor(ctx, `${name}.gen.prompt_ids`).data);
        const visual = m === 'image'
          ? { tokens: (await ctx.runtime.encodeImage(pixelsFor(ctx, m))).visualTokens, offset: 1 + prefixIds(ctx.golden, 'prefix_img_ids').length }
          : undefined;
        if (visual && promptIds.slice(visual.offset, visual.offset + visual.tokens.length / dim).some((id) => id !== 0)) {
          throw new Error('gen.prompt_ids: expected zero placeholders where the visual tokens go');
        }
        const expectedTokens = Array.from(tensor(ctx, `${name}.gen.tokens`).data);
        const r = await generateIds(ctx.runtime, {
          promptIds, modality: m, visual, maxNewTokens: expectedTokens.length, stopAtEos: false, positionMode: 'reference', keepLogits: true,
        });
        const stepLogits = tensor(ctx, `${name}.gen.step_logits`);
        const V = stepLogits.shape[1];
        let worst = { maxAbsError: 0, bound: 0 };
        r.stepLogits.forEach((l, k) => {
          const c2 = assertClose(`${name}.gen.step_logits[${k}]`, l, stepLogits.data.subarray(k * V, (k + 1) * V));
          if (c2.maxAbsError >= worst.maxAbsError) worst = c2;
        });
        if (r.tokens.join(',') !== expectedTokens.join(',')) throw new Error(`greedy tokens ${r.tokens} != golden ${expectedTokens}`);
        return `${r.tokens.length} tokens equal; step logits ${fmt(worst)}`;
      },
    });
    checks.push({
      name: `${name}: greedy tokens with training-consistent decode positions`,
      reads: [`diagnostics.${name}.decode_without_position_quirk.greedy_tokens`],
      skipReason: (golden) =>
        golden.diagnostics?.[name]?.decode_without_position_quirk?.greedy_tokens ? undefined : `this fixture set records no quirk-free decode (diagnostics.${name}.decode_without_position_quirk.greedy_tokens)`,
      async run(ctx) {
        const c = ctx.golden.cases[name];
        const m = modalityOf(c);
        const expected: number[] | undefined = ctx.golden.diagnostics?.[name]?.decode_without_position_quirk?.greedy_tokens;
        if (!expected) throw new Error(`golden.json has no diagnostics.${name}.decode_without_position_quirk.greedy_tokens (the test should have skipped)`);
        const promptIds = Array.from(tensor(ctx, `${name}.gen.prompt_ids`).data);
        const visual = m === 'image'
          ? { tokens: (await ctx.runtime.encodeImage(pixelsFor(ctx, m))).visualTokens, offset: 1 + prefixIds(ctx.golden, 'prefix_img_ids').length }
          : undefined;
        const r = await generateIds(ctx.runtime, { promptIds, modality: m, visual, maxNewTokens: expected.length, stopAtEos: false, positionMode: 'consistent' });
        if (r.tokens.join(',') !== expected.join(',')) throw new Error(`consistent-mode tokens ${r.tokens} != ${expected}`);
        return `${r.tokens.length} tokens equal`;
      },
    });
  }
  return checks;
}
