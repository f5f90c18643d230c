// onnxruntime-node sessions from graphs: serialisation, execution providers, threads.

import * as ort from 'onnxruntime-node';
import { Graph } from './graph/graph';
import { serializeModel } from './graph/onnx';
import { placementProfilePrefix, reportPlacementAfterFirstRun } from './placement';

export type ExecutionDevice = 'cpu' | 'cuda' | 'webgpu';

export interface SessionConfig {
  device?: ExecutionDevice;
  threads?: number;
  /** Write onnxruntime's per-node profile (JSON) to files starting with this prefix (diagnostics). */
  profilePrefix?: string;
  /**
   * Let onnxruntime repack constant weights into its kernels' layouts at load (default true).
   * MatMulNBits needs it; float32 MatMuls run as fast from the mapped file (see LavinRuntime.open).
   */
  prepack?: boolean;
  /**
   * Also write the optimized graph to `model`, with onnxruntime's repacked weights in `data` (a
   * file name beside it): see packedWeights.ts.
   */
  savePacked?: { model: string; data: string };
  /** On a GPU provider: log which nodes ran on the CPU instead, after the first run (placement.ts). */
  log?: (message: string) => void;
  /**
   * Outputs returned as 'gpu-buffer' tensors that stay on the device (WebGPU only: deviceKv.ts);
   * the others come back as host tensors.
   */
  outputsOnDevice?: string[];
  /** WebGPU: keep the decoder's KV cache in host memory, uploaded every step (bench/checkGpu.ts compares). */
  kvOnHost?: boolean;
  /** Diagnostics: milliseconds spent serialising each graph and creating its session, by `<graph>.serializeMs` / `<graph>.createMs`. */
  phases?: Record<string, number>;
}

/** Initializers under this size stay inside a saved optimized graph (shape inference reads them). */
const SAVED_EXTERNAL_MIN_BYTES = 1 << 12;

/**
 * Initializers at least this large go to (in-memory) external data, each handed over in its own
 * buffer: no weight bytes are copied into the protobuf or into one concatenated buffer (with 1 MiB
 * and one buffer, a d512 GGUF Q8_0 decoder peaked at 307 MB RSS while its session was created,
 * 244-250 MB this way; a throwaway probe). Shape inference reads the small (int64 shape) ones inline.
 */
const EXTERNAL_THRESHOLD = 1 << 12;

function sessionOptions(cfg: SessionConfig): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [cfg.device ?? 'cpu'],
    graphOptimizationLevel: 'all',
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  if (cfg.threads !== undefined) options.intraOpNumThreads = cfg.threads;
  if (cfg.outputsOnDevice?.length) options.preferredOutputLocation = Object.fromEntries(cfg.outputsOnDevice.map((name) => [name, 'gpu-buffer' as const]));
  if (cfg.profilePrefix) Object.assign(options, { enableProfiling: true, profileFilePrefix: cfg.profilePrefix });
  if (cfg.prepack === false) options.extra = { session: { disable_prepacking: '1' } };
  if (cfg.savePacked) {
    options.optimizedModelFilePath = cfg.savePacked.model;
    options.extra = {
      session: {
        save_external_prepacked_constant_initializers: '1',
        optimized_model_external_initializers_file_name: cfg.savePacked.data,
        optimized_model_external_initializers_min_size_in_bytes: String(SAVED_EXTERNAL_MIN_BYTES),
      },
    };
  }
  return options;
}

/** A session whose node placement gets logged after its first run (GPU providers with a log only). */
async function withPlacementLog(what: string, cfg: SessionConfig, create: (cfg: SessionConfig) => Promise<ort.InferenceSession>): Promise<ort.InferenceSession> {
  const device = cfg.device ?? 'cpu';
  if (device === 'cpu' || !cfg.log || cfg.profilePrefix) return create(cfg);
  const prefix = placementProfilePrefix(what.replace(/\W+/g, '_'));
  const session = await create({ ...cfg, profilePrefix: prefix });
  reportPlacementAfterFirstRun(session, prefix, `node placement of ${what} on ${device}`, cfg.log);
  return session;
}

export async function createSession(graph: Graph, cfg: SessionConfig = {}): Promise<ort.InferenceSession> {
  return withPlacementLog(graph.name, cfg, (c) => createSessionNow(graph, c));
}

async function createSessionNow(graph: Graph, cfg: SessionConfig): Promise<ort.InferenceSession> {
  const externalFile = `${graph.name}.onnx.data`;
  const s0 = performance.now();
  const { model, external } = serializeModel(graph, { externalThreshold: EXTERNAL_THRESHOLD, externalFile, externalPerTensor: true });
  const options = sessionOptions(cfg);
  if (external) options.externalData = external.chunks.map((c) => ({ path: c.file!, data: c.data }));
  const c0 = performance.now();
  try {
    return await ort.InferenceSession.create(model, options);
  } catch (e) {
    throw new Error(`could not create the ${graph.name} session on ${cfg.device ?? 'cpu'}: ${(e as Error).message}`);
  } finally {
    if (cfg.phases) {
      cfg.phases[`${graph.name}.serializeMs`] = c0 - s0;
      cfg.phases[`${graph.name}.createMs`] = performance.now() - c0;
    }
  }
}

/** A session from an ONNX file on disk (its external data file beside it). */
export async function createSessionFromFile(file: string, cfg: SessionConfig = {}): Promise<ort.InferenceSession> {
  return withPlacementLog(file.split(/[\\/]/).pop()!, cfg, (c) => createSessionFromFileNow(file, c));
}

async function createSessionFromFileNow(file: string, cfg: SessionConfig): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(file, sessionOptions(cfg));
  } catch (e) {
    throw new Error(`could not create a session from ${file} on ${cfg.device ?? 'cpu'}: ${(e as Error).message}`);
  }
}

export function f32(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function i64(values: ArrayLike<number>): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(v))), [values.length]);
}
