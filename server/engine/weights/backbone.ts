// A language-model backbone from the files users have (a GGUF file, a Hugging Face folder): its
// hyper-parameters (BackboneSpec) and, once opened, its tensors under the engine's (Meta) names.
import type { LlamaConfig } from '../lavin';

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
