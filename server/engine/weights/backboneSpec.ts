// What a backbone is, as types: its hyper-parameters (BackboneSpec) and, once opened, its tensors
// (OpenedBackbone). A leaf module: the readers (gguf.ts, hfFolder.ts, backboneShapes.ts) and the
// opener (backbone.ts, which re-exports these) import it, so no two of them import each other.

import type { LlamaConfig } from '../lavin';
import type { QuantizedWeight } from '../quant';
import type { HostTensor } from '../tensor';
import type { GgufValue } from './ggufHeader';

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number };

/**
 * LlamaConfig with the backbone fields agreed in COORDINATION.md. Once lavin.ts's LlamaConfig has
 * them this is the same type.
 */
export interface BackboneLlamaConfig extends LlamaConfig {
  /** = nHeads without grouped-query attention. */
  nKvHeads: number;
  /** Meta adjacent pairs (LLaMA GGUF, Meta checkpoints) vs rotate-half (qwen2, HF llama layout). */
  ropeStyle: 'interleaved' | 'neox';
  ropeScaling?: RopeScaling;
  /** q/k/v projections have biases (qwen2). */
  qkvBias: boolean;
  /** No output.weight: the head is tok_embeddings.weight. */
  tiedEmbeddings: boolean;
}

export interface BackboneSpec {
  arch: 'llama' | 'qwen2';
  name: string;
  llama: BackboneLlamaConfig;
  /** The context length the model was trained for. */
  contextLength: number;
  /** The file's quantisation as llama.cpp names it (Q4_K_M, Q8_0, F16 ...); absent for HF folders. */
  fileType?: string;
  /** Parameters (elements of every tensor in the file or folder). */
  nParams: number;
  source: { kind: 'gguf' | 'hf'; path: string };
}

/** A backbone opened for running: its spec and tensors under the engine's (Meta) names. */
export interface OpenedBackbone {
  spec: BackboneSpec;
  /**
   * Float tensors by engine name, in their stored dtype (float32/float16/bfloat16; never widened
   * here): norms, biases, linear weights stored as floats, `rope_freqs.weight` (Llama 3's exact
   * per-frequency RoPE divisors, when the file has them), and tok_embeddings.weight when it is the
   * (tied) head and stored as floats.
   */
  tensors: Map<string, HostTensor>;
  /**
   * Quantised linear weights by engine name in MatMulNBits's format (exact re-blocking, see
   * ggufQuants.ts); with tied embeddings and a quantised table this includes tok_embeddings.weight.
   */
  quantized: Map<string, QuantizedWeight>;
  /** GGUF metadata (tokenizer, chat template); empty for Hugging Face folders. */
  metadata: Map<string, GgufValue>;
  /** Tensors in the file that the engine does not use. */
  ignored: string[];
  /**
   * Rows of the token embedding as float32 [ids.length * dim], dequantised on demand (the table is
   * never held whole in float32; for GGUF the rows are read from the file, exactly ggml's values).
   */
  embeddingRows(ids: ArrayLike<number>): Float32Array;
  /** Both are plain functions (no `this`): a runtime keeps them without the tensors (backboneRuntime). */
  close(): void;
}
