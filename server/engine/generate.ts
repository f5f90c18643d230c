// Token-level generation over the KV cache: prefill the prompt, then one token per decoder call.
// Positions follow either the reference generator (decode-position quirk) or training.

import { PositionMode, StopReason } from './api';
import { KvCache, LavinRuntime, Modality } from './runtime';
import { argmax, createRng, sampleTopP } from './sampling';

/**
 * KV rows a finished call leaves for the next one: row j holds token ids[j] at RoPE position j + 1,
 * computed on this modality's router table with these visual tokens. A later prompt that starts
 * with the same ids (a chat's next turn) prefills only what follows them.
 */
export interface PromptCache {
  modality: Modality;
  visual?: { tokens: Float32Array; offset: number };
  ids: number[];
  cache: KvCache;
}

/** How many leading prompt tokens can come from `reuse` (at least one token is always prefilled). */
export function reusableRows(reuse: PromptCache | undefined, req: Pick<IdGenerateRequest, 'promptIds' | 'modality' | 'visual'>): number {
  if (!reuse || reuse.modality !== req.modality || !sameVisual(reuse.visual, req.visual)) return 0;
  const limit = Math.min(reuse.ids.length, reuse.cache.length, req.promptIds.length - 1);
  let n = 0;
  while (n < limit && reuse.ids[n] === req.promptIds[n]) n++;
  return n; // a prefix may end inside the visual tokens: each row depends only on the rows before it
}

function sameVisual(a: PromptCache['visual'], b: PromptCache['visual']): boolean {
  if (!a || !b) return a === b;
  if (a.offset !== b.offset || a.tokens.length !== b.tokens.length) return false;
  for (let i = 0; i < a.tokens.length; i++) if (a.tokens[i] !== b.tokens[i]) return false;
  return true;
}

export interface IdGenerateRequest {
  /** BOS + prefix + visual placeholders + prompt ids (the reference generator's prompt). */
  promptIds: number[];
  modality: Modality;
  /** Visual tokens [n, D] replacing the placeholder ids at promptIds[offset .. offset+n). */
  visual?: { tokens: Float32Array; offset: number };
  maxNewTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  eosId?: number;
  /** Further ids that end generation (a model file's end-of-generation tokens: eot, eom ...). */
  stopIds?: ReadonlySet<number>;
  stopAtEos?: boolean;
  /**
   * RoPE position of the first prompt token: 1 after LaVIN's modality token (default), 0 for a
   * sequence without one (a plain backbone, as llama.cpp runs it).
   */
  firstPosition?: number;
  positionMode?: PositionMode;
  signal?: AbortSignal;
  onToken?: (id: number, index: number) => void;
  /** Keep each step's logits (tests and diagnostics). */
  keepLogits?: boolean;
  /** The previous call's rows: the prompt's common prefix with them is not computed again. The cache is taken over (extended in place). */
  reuse?: PromptCache;
}

export interface IdGenerateResult {
  tokens: number[];
  stopReason: StopReason;
  stepLogits: Float32Array[];
  routerWeights: Float32Array; // [L, 2]
  prefillMs: number;
  decodeMs: number;
  /** Prompt tokens whose rows came from `reuse`. */
  reusedPromptTokens: number;
  /** What the next call may reuse (undefined when this one was stopped during its prompt). */
  promptCache?: PromptCache;
}

export async function generateIds(rt: LavinRuntime, req: IdGenerateRequest): Promise<IdGenerateResult> {
  const { dim } = rt.cfg.llama;
  const S = req.promptIds.length;
  if (S === 0) throw new Error('empty prompt');
  if (S >= rt.cfg.maxSeqLen) throw new Error(`prompt of ${S} tokens does not fit the context of ${rt.cfg.maxSeqLen}`);
  const mode = req.positionMode ?? 'reference';
  const temperature = req.temperature ?? 0;
  const rng = createRng(req.seed ?? 0);
  const pick = (logits: Float32Array) => (temperature > 0 ? sampleTopP(logits, temperature, req.topP ?? 1, rng) : argmax(logits));

  const embeds = rt.embed(req.promptIds.map((id, i) => (req.visual && i >= req.visual.offset && i < req.visual.offset + req.visual.tokens.length / dim ? 0 : id)));
  if (req.visual) embeds.set(req.visual.tokens, req.visual.offset * dim);
  const router = await rt.routerTable(req.modality);

  const tokens: number[] = [];
  const stepLogits: Float32Array[] = [];
  const aborted = () => req.signal?.aborted === true;
  let stopReason: StopReason = 'max-tokens';
  if (aborted()) return { tokens, stopReason: 'aborted', stepLogits, routerWeights: router, prefillMs: 0, decodeMs: 0, reusedPromptTokens: 0, promptCache: req.reuse };

  // Prefill: prompt token j sits at RoPE position j + 1 (position 0 is the uncached modality token).
  // Rows shared with the previous call are kept; the rest goes in chunks, so Stop also ends a long
  // prompt's prefill.
  const t0 = performance.now();
  const reused = reusableRows(req.reuse, req);
  const start = reused > 0 ? req.reuse!.cache : KvCache.empty(rt.cfg);
  if (reused > 0) start.truncate(reused);
  const first = req.firstPosition ?? 1;
  const prefilled = await rt.prefill({ embeds: embeds.subarray(reused * dim), positions: Array.from({ length: S - reused }, (_, j) => reused + j + first), routerWeights: router, cache: start }, req.signal);
  const prefillMs = performance.now() - t0;
  if (!prefilled) return { tokens, stopReason: 'aborted', stepLogits, routerWeights: router, prefillMs, decodeMs: 0, reusedPromptTokens: reused };
  let out = prefilled;
  const t1 = performance.now();
  let cache = out.cache;
  for (let k = 0; k < req.maxNewTokens; k++) {
    const logits = out.logits;
    if (req.keepLogits) stepLogits.push(logits.slice());
    const id = pick(logits);
    tokens.push(id);
    req.onToken?.(id, k);
    if (req.stopAtEos !== false && (id === (req.eosId ?? 2) || req.stopIds?.has(id))) { stopReason = 'eos'; break; }
    if (k + 1 >= req.maxNewTokens) break;
    if (aborted()) { stopReason = 'aborted'; break; }
    // As the reference: prompt + generated tokens never exceed the context length.
    if (S + tokens.length >= rt.cfg.maxSeqLen) { stopReason = 'context-full'; break; }
    // The token fed now occupies cache slot `cache.length`; the reference gives it RoPE position
    // equal to its slot (one less than in training), the consistent mode slot + 1.
    const position = mode === 'reference' ? cache.length : cache.length + first;
    out = await rt.step({ embeds: rt.embed([id]), positions: [position], routerWeights: router, cache });
    cache = out.cache;
  }
  // Rows after the prompt hold the fed tokens (all but the last one picked). The reference mode
  // gave them position slot, not slot + 1 as a prompt would, so only the consistent mode reuses them.
  const fed = tokens.slice(0, cache.length - S);
  const ids = mode === 'reference' ? req.promptIds.slice() : [...req.promptIds, ...fed];
  const promptCache: PromptCache = { modality: req.modality, visual: req.visual && { tokens: req.visual.tokens.slice(), offset: req.visual.offset }, ids, cache };
  return { tokens, stopReason, stepLogits, routerWeights: router, prefillMs, decodeMs: performance.now() - t1, reusedPromptTokens: reused, promptCache };
}
