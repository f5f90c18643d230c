// The training golden checks, as data: each compares what one forward + backward pass of the
// training graph computed (loss, router weights, every adapter gradient) with the fixture's
// goldens. The passes run once; checks only compare, so the perturbation test can re-run them
// against altered goldens cheaply.

import { StepResult } from '../../server/train/step';
import { LaidOutExample } from '../../server/engine/sequence';
import { assertClose, closeness, GoldenJson, GoldenTensor } from './fixture';

export const MODULE_PREFIX = 'module.';

export interface TrainingContext {
  golden: GoldenJson;
  tensors: Map<string, GoldenTensor>;
  /** Per case: the laid-out example and the result of the training step. */
  results: Map<string, { example: LaidOutExample; step: StepResult }>;
}

export interface TrainingCheck {
  name: string;
  /** Golden tensor names this check reads (the perturbation test alters one of them). */
  reads: string[];
  run: (ctx: TrainingContext) => string;
}

/** Gradient tolerance from the fixture README: |d| <= 1e-3 * max|ref|, per tensor. */
export const GRAD_REL = 1e-3;
export const LOSS_REL = 1e-5;

function tensor(ctx: TrainingContext, name: string): GoldenTensor {
  const t = ctx.tensors.get(name);
  if (!t) throw new Error(`golden.safetensors has no ${name}`);
  return t;
}

function result(ctx: TrainingContext, caseName: string) {
  const r = ctx.results.get(caseName);
  if (!r) throw new Error(`no training result for case ${caseName}`);
  return r;
}

export function trainingChecks(golden: GoldenJson): TrainingCheck[] {
  const checks: TrainingCheck[] = [];
  for (const name of Object.keys(golden.cases)) {
    const gradNames = golden.trainable_keys.map((k) => `${name}.grad.${k}`);
    checks.push({
      name: `${name}: labels aligned with the LLM sequence`,
      reads: [`${name}.train.labels_inserted`],
      run(ctx) {
        const got = result(ctx, name).example.labelsInserted;
        const want = Array.from(tensor(ctx, `${name}.train.labels_inserted`).data);
        if (got.join(',') !== want.join(',')) throw new Error(`labels_inserted ${got} != golden ${want}`);
        return `${got.filter((l) => l !== 0).length} labelled positions`;
      },
    });
    checks.push({
      name: `${name}: loss`,
      reads: [`${name}.train.loss`],
      run(ctx) {
        const want = tensor(ctx, `${name}.train.loss`).data[0];
        const got = result(ctx, name).step.loss;
        const err = Math.abs(got - want);
        if (!(err <= LOSS_REL * Math.abs(want))) throw new Error(`loss ${got} vs golden ${want}: |error| ${err} exceeds ${LOSS_REL * Math.abs(want)}`);
        return `loss ${got} vs ${want}, relative error ${(err / Math.abs(want)).toExponential(2)}`;
      },
    });
    checks.push({
      name: `${name}: router weights computed in the training graph`,
      reads: [`${name}.router_weights`],
      run(ctx) {
        const c = assertClose(`${name}.router_weights`, result(ctx, name).step.routerWeights, tensor(ctx, `${name}.router_weights`));
        return `max |err| ${c.maxAbsError.toExponential(2)}`;
      },
    });
    checks.push({
      name: `${name}: every adapter gradient (${gradNames.length} tensors, |d| <= ${GRAD_REL} * max|ref| per tensor)`,
      reads: gradNames,
      run(ctx) {
        const grads = result(ctx, name).step.grads;
        let worstRatio = 0;
        let worstName = '';
        let zeroFilled = 0;
        const failures: string[] = [];
        for (const key of ctx.golden.trainable_keys) {
          const ref = tensor(ctx, `${name}.grad.${key}`);
          const got = grads.get(key.startsWith(MODULE_PREFIX) ? key.slice(MODULE_PREFIX.length) : key);
          if (!got) { failures.push(`${key}: no gradient computed`); continue; }
          const c = closeness(got, ref.data, GRAD_REL, 0);
          let maxRef = 0;
          for (const v of ref.data) maxRef = Math.max(maxRef, Math.abs(v));
          if (maxRef === 0) zeroFilled++;
          const ratio = maxRef > 0 ? c.maxAbsError / maxRef : c.maxAbsError > 0 ? Infinity : 0;
          if (ratio >= worstRatio) { worstRatio = ratio; worstName = key; }
          if (!c.ok) failures.push(`${key}: max |error| ${c.maxAbsError} at ${c.worstIndex} exceeds ${c.bound}`);
        }
        const none = ctx.golden.cases[name].grad_none_keys;
        for (const key of none) {
          const got = grads.get(key.startsWith(MODULE_PREFIX) ? key.slice(MODULE_PREFIX.length) : key);
          if (got && got.some((v) => v !== 0)) failures.push(`${key}: PyTorch has no gradient here, ours is non-zero`);
        }
        if (failures.length) throw new Error(`${failures.length} gradient(s) off:\n  ${failures.slice(0, 10).join('\n  ')}`);
        return `worst max|err|/max|ref| ${worstRatio.toExponential(2)} (${worstName}); ${zeroFilled} all-zero tensors, ${none.length} None in PyTorch`;
      },
    });
  }
  return checks;
}
