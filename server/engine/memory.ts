// Whether a model can fit in this machine's memory on the CPU, known before any weight is loaded:
// a 7B model left at fp32 needs about 27 GiB, and being killed by the kernel half-way through
// loading is the worst way to learn that. The estimate is a lower bound (the weights as the
// sessions hold them, the KV cache at full context); measured peaks are 1.1-1.7x it (bench/README.md).

import * as os from 'os';
import { LavinConfig } from './lavin';
import { cpuBytesPerWeight, WEIGHT_FORMATS, WeightFormat } from './quant';

export interface MemoryEstimate {
  /** LLaMA linears in the weight format, plus the embedding table (stored fp16). */
  decoderBytes: number;
  /** CLIP ViT in float32 (loaded with the first image). */
  visionBytes: number;
  /** Keys and values of every layer at the full context, float32. */
  kvCacheBytes: number;
  totalBytes: number;
}

/** Weights of LLaMA's linear layers (attention, FFN, output head): what a decoded token reads. */
export function llamaLinearParameters(llama: Pick<LavinConfig['llama'], 'dim' | 'nLayers' | 'ffnHidden' | 'vocab'> & { nKvHeads?: number; headDim?: number }): number {
  const { dim: D, nLayers: L, ffnHidden: F, vocab: V } = llama;
  // wk and wv are [nKvHeads * headDim, D] under grouped-query attention.
  const kv = llama.nKvHeads !== undefined && llama.headDim !== undefined ? llama.nKvHeads * llama.headDim : D;
  return L * (2 * D * D + 2 * D * kv + 3 * D * F) + V * D;
}

export function estimateCpuMemory(cfg: LavinConfig, format: WeightFormat): MemoryEstimate {
  const { dim: D, nLayers: L, vocab: V } = cfg.llama;
  const { width: W, layers: CL, patch: P, resolution: R } = cfg.clip;
  const decoderBytes = llamaLinearParameters(cfg.llama) * cpuBytesPerWeight(format) + V * D * 2;
  const tokens = (R / P) ** 2 + 1;
  const visionBytes = 4 * (CL * (12 * W * W + 13 * W) + 3 * P * P * W + tokens * W);
  // Grouped-query attention caches nKvHeads heads, not nHeads (Llama-3 8B: a quarter). The field is
  // optional until LlamaConfig has it for every backbone.
  const kvWidth = ((cfg.llama as { nKvHeads?: number }).nKvHeads ?? cfg.llama.nHeads) * cfg.llama.headDim;
  const kvCacheBytes = 2 * L * cfg.maxSeqLen * kvWidth * 4;
  return { decoderBytes, visionBytes, kvCacheBytes, totalBytes: decoderBytes + visionBytes + kvCacheBytes };
}

const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GB`; // GiB, as the OS reports memory

/**
 * Refuses a model whose estimate exceeds the machine's physical memory, naming the precisions that
 * would fit; returns a warning when it exceeds what is available now (other programs may free it).
 */
export function checkCpuMemory(cfg: LavinConfig, format: WeightFormat, name: string, machine = { total: os.totalmem(), available: os.freemem() }): string | undefined {
  const need = estimateCpuMemory(cfg, format).totalBytes;
  if (need > machine.total) {
    const fitting = WEIGHT_FORMATS.map((f) => ({ f, bytes: estimateCpuMemory(cfg, f).totalBytes })).filter((e) => e.bytes <= machine.total).map((e) => `${e.f} (about ${gb(e.bytes)})`);
    const advice = fitting.length ? `convert it with --precision ${fitting.join(' or ')}` : 'no precision fits';
    throw new Error(`${name} at ${format} needs at least ${gb(need)} of memory on the CPU${format === 'fp16' ? ' (fp16 weights are widened to float32 there)' : ''}, and this machine has ${gb(machine.total)}: ${advice}`);
  }
  if (need > machine.available) return `${name} at ${format} needs at least ${gb(need)} of memory; ${gb(machine.available)} is free now`;
  return undefined;
}
