// Types of the engine's text-level API (LavinModel in lavinModel.ts): load options, generation
// requests and results, model info. The host imports the engine modules it uses directly
// (lavinModel, modelDir, convertedCopy, sequence, weights); this file holds only the shared types.
// Nothing here knows about LSP, VS Code or a terminal.

import type { Prompt } from './sequence';

export type Device = 'auto' | 'cpu' | 'cuda' | 'webgpu';
export type Precision = 'fp32' | 'fp16' | 'int8' | 'int4';

/**
 * Which RoPE positions decode tokens get.
 * - 'reference': the official LaVIN generator's off-by-one (first generated token shares the last prompt
 *   token's position). Use it with official checkpoints for output parity.
 * - 'consistent': every token at its training position. Use it with adapters trained by this product.
 */
export type PositionMode = 'reference' | 'consistent';

export interface LoadOptions {
  device?: Device;
  precision?: Precision;
  /** Intra-op threads for the CPU provider; default: all cores. */
  threads?: number;
  positionMode?: PositionMode;
  /**
   * A converted int8/int4 model on the CPU: save onnxruntime's repacked weights beside it on the
   * first start and open them on later ones (7B int4: 3.3 s instead of 5.5 s, bench/load.js; twice the decoder's
   * disk). Default true; false still opens a copy that exists.
   */
  packedWeights?: boolean;
  /** A GGUF / Hugging Face backbone's CLIP (OpenAI .pt, Hugging Face folder or safetensors, LLaVA mmproj GGUF). */
  clip?: string;
  log?: (message: string) => void;
}

export interface TokenEvent {
  id: number;
  /** Text this token adds to the answer (may be '' while a multi-byte character is incomplete). */
  text: string;
  /** 0-based index of the generated token. */
  index: number;
}

export interface GenerateRequest {
  /**
   * What to ask (sequence.ts): a chat ({ kind: 'chat', turns, context? }), a ScienceQA problem, or
   * text already in the model's prompt format (a string), which follows the image prefix as is.
   */
  prompt: Prompt;
  /** Encoded PNG/JPEG/WebP bytes; absent for the text-only path. */
  image?: Uint8Array;
  maxNewTokens?: number;
  /** 0 = greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
  /**
   * The prompt as it is, tokenised exactly as llama.cpp tokenises a raw prompt for this model file
   * (its BOS rule): no template, no LaVIN instruction layout, no image prefix.
   */
  raw?: boolean;
  /** Stop at EOS (default true; the reference generator never stops early). */
  stopAtEos?: boolean;
  positionMode?: PositionMode;
  signal?: AbortSignal;
  onToken?: (event: TokenEvent) => void;
  /** Diagnostics: the logits each generated token was picked from (index as in TokenEvent), after the answer. */
  onLogits?: (logits: Float32Array, index: number) => void;
}

export type StopReason = 'eos' | 'max-tokens' | 'aborted' | 'context-full';

export interface GenerateResult {
  text: string;
  tokens: number[];
  stopReason: StopReason;
  /** Which MMA path the router was given: the modality token's indicator. */
  route: 'text' | 'image';
  /** Per LLM layer: [weight of expert 0, weight of expert 1] (the paper's Figure 4, for this request). */
  routerWeights: number[][];
  promptTokens: number;
  /** Leading prompt tokens taken from the previous answer's KV cache instead of computed. */
  reusedPromptTokens: number;
  /** Set when an image was given but not used (no trained vision adapter set for this backbone): the answer is the text path's. */
  visionNote?: string;
  timings: { visionMs: number; prefillMs: number; decodeMs: number; decodeTokensPerSecond: number };
}

export interface ModelInfo {
  name: string;
  dir: string;
  llama: { dim: number; layers: number; heads: number; vocab: number; ffnHidden: number };
  /** The ViT; absent for a language backbone given no CLIP. */
  clip?: { width: number; layers: number; heads: number; patch: number; resolution: number };
  /** A backbone opened from a GGUF file or Hugging Face folder (absent for a LaVIN model folder). */
  backbone?: { arch: string; source: 'gguf' | 'hf'; path: string; fileType?: string; clip?: string };
  /** Why images are not seen, when they are not (shown with every answer). */
  visionNote?: string;
  adapterParameters: number;
  temperature: number;
  maxSeqLen: number;
  /** The execution provider the model runs on: 'cpu', 'cuda' or 'webgpu'. */
  device: string;
  /** The provider and why the ones 'auto' tried before it were passed over (device.ts describeChoice). */
  deviceNote?: string;
  precision: Precision;
}
