// `convert`: write a model once as ONNX graphs + external weight data in a chosen weight format,
// so start-up opens files instead of re-quantising. A converted folder holds:
//   vision.onnx (+ .data)      the ViT and visual projection (always float32)
//   decoder.<weights>.<kernels>.onnx (+ .data)   LLaMA with adapters; its linears in `weights`
//   host.safetensors           the tensors the runtime reads on the host (token and modality embeddings)
//   converted.json             config, format, source fingerprint, files — written last
// Each file is written under a `.partial` name and renamed when complete, so an interrupted
// conversion is resumed by re-running: finished files whose fingerprint matches are kept.

import * as fs from 'fs';
import * as path from 'path';
import { Graph } from './graph/graph';
import { serializeModel } from './graph/onnx';
import { LavinConfig, llama1Backbone, llamaLinearPolicy } from './lavin';
import { buildDecoderGraph, buildVisionGraph, inferenceParams, isAdapterParam, Kernels } from './programs';
import { bitsOf, QuantizedWeight, quantizeWeight, WEIGHT_FORMATS, WeightFormat } from './quant';
import { LinearPolicy } from './graph/params';
import { openModelDir, readManifest } from './modelDir';
import { BYTES_PER_ELEMENT, HostTensor, numel } from './tensor';

export const CONVERTED_FILE = 'converted.json';
/**
 * Bump a part's version when what the converter writes for it changes: that part of older
 * conversions is then redone, the others kept (a 7B ViT or host file is not rewritten for a
 * decoder change). GRAPH_VERSION, the newest of them, marks a whole conversion as current.
 */
export const PART_VERSIONS = {
  host: 6,
  vision: 10, // 10: each CLIP tap may have its own input layer in the visual projection (zeros for a set without); 7: the visual projection's hidden width is a symbolic input dimension (fresh vision sets widen it)
  decoder: 9, // 9: every block takes an FFN adapter (adapter_mlp; zeros for a set without); 8: route_from_first_token (the router table in one pass); 7: attention reads the cache in place (keys transposed), no GroupQueryAttention; 6: the cache is read in place, steps return only their own keys/values; 5: adapters fed laid out; 4: int8/int4 asymmetric in blocks of 128; 3: adapters are graph inputs
} as const;
export const GRAPH_VERSION = Math.max(...Object.values(PART_VERSIONS));
/** Tensors the runtime keeps on the host rather than in a graph. */
export const HOST_TENSORS = ['tok_embeddings.weight', 'adapter_modality_embedding.weight'] as const;

/** What the runtime keeps on the host: the embedding table and every adapter tensor (fed to the graphs). */
export function hostTensorNames(tensors: ReadonlyMap<string, unknown>): string[] {
  return [...new Set<string>([...HOST_TENSORS, ...[...tensors.keys()].filter(isAdapterParam)])];
}
/** External data alignment: page-aligned tensors can be memory-mapped by onnxruntime. */
const EXTERNAL_ALIGN = 4096;
const EXTERNAL_THRESHOLD = 1 << 16;

export interface ConvertedManifest {
  format: 'lavin-code-converted';
  version: 1;
  weights: WeightFormat;
  kernels: Kernels;
  /** GRAPH_VERSION of the converter that wrote the graphs. */
  graphVersion: number;
  /** Identifies the source weights (e.g. a hash of paths + sizes + mtimes); a mismatch re-converts. */
  source: string;
  cfg: LavinConfig;
  files: { vision: string; decoder: string; host: string };
}

export interface ConvertProgress {
  /** 'vision' | 'decoder' | 'host' */
  part: string;
  /** 'build': parameters read (and converted/quantised) so far, of at most `total` in the model;
   *  'write': bytes written of this part, of `total`. */
  phase: 'build' | 'write';
  done: number;
  total: number;
  /** True when the part was already converted and kept. */
  skipped?: boolean;
}

export interface ConvertOptions {
  weights: WeightFormat;
  /** Decoder kernels (default 'fused': onnxruntime's fused attention and norms). */
  kernels?: Kernels;
  source: string;
  onProgress?: (p: ConvertProgress) => void;
  /** Re-write every file even when a matching one exists. */
  force?: boolean;
  /**
   * Reads a parameter whose entry in `tensors` holds its shape but no data (openModelDir with
   * deferred linears): the decoder part then reads and quantises such weights one at a time.
   */
  read?: (name: string) => Promise<HostTensor>;
}

/**
 * Convert parameters (official names; any ReadonlyMap, so a lazy source can stream tensors) into
 * `outDir`. Safe to re-run: completed parts with the same fingerprint are kept.
 */
export async function convertModel(cfg: LavinConfig, tensors: ReadonlyMap<string, HostTensor>, outDir: string, opts: ConvertOptions): Promise<ConvertedManifest> {
  if (!WEIGHT_FORMATS.includes(opts.weights)) throw new Error(`convert: unknown weight format "${opts.weights}" (one of ${WEIGHT_FORMATS.join(', ')})`);
  fs.mkdirSync(outDir, { recursive: true });
  const manifest: ConvertedManifest = {
    format: 'lavin-code-converted',
    version: 1,
    weights: opts.weights,
    kernels: opts.kernels ?? 'fused',
    graphVersion: GRAPH_VERSION,
    source: opts.source,
    cfg,
    files: { vision: 'vision.onnx', decoder: `decoder.${opts.weights}.${opts.kernels ?? 'fused'}.onnx`, host: 'host.safetensors' },
  };
  // Parts finished by an earlier (possibly interrupted) run carry a stamp with the fingerprint.
  const stampOf = (file: string) => path.join(outDir, `${file}.done`);
  const fingerprint = (name: keyof typeof PART_VERSIONS) => `${opts.source}|${JSON.stringify(cfg)}|graphs v${PART_VERSIONS[name]}`;
  const isDone = (name: keyof typeof PART_VERSIONS, file: string) => !opts.force && fs.existsSync(path.join(outDir, file)) && fs.existsSync(stampOf(file)) && fs.readFileSync(stampOf(file), 'utf8') === fingerprint(name);
  const markDone = (name: keyof typeof PART_VERSIONS, file: string) => fs.writeFileSync(stampOf(file), fingerprint(name));

  // Building a graph reads (and quantises) every parameter it uses: report each read.
  let building = '';
  const read = new Set<string>();
  const source: ReadonlyMap<string, HostTensor> = Object.assign(Object.create(null), {
    get: (n: string) => {
      if (!read.has(n)) {
        read.add(n);
        opts.onProgress?.({ part: building, phase: 'build', done: read.size, total: tensors.size });
      }
      return tensors.get(n);
    },
    has: (n: string) => tensors.has(n),
    keys: () => tensors.keys(),
    size: tensors.size,
  });
  const part = async (name: keyof typeof PART_VERSIONS, file: string, build: () => Graph | HostTensor[] | Promise<Graph>) => {
    if (isDone(name, file)) {
      opts.onProgress?.({ part: name, phase: 'write', done: 1, total: 1, skipped: true });
      return;
    }
    building = name;
    const built = await build();
    const progress = (done: number, total: number) => opts.onProgress?.({ part: name, phase: 'write', done, total });
    if (Array.isArray(built)) writeSafetensors(path.join(outDir, file), hostNames, built, progress);
    else await writeOnnx(built, path.join(outDir, file), progress);
    markDone(name, file);
  };

  const hostNames = hostTensorNames(tensors);
  await part('host', manifest.files.host, () => hostNames.map((n) => {
    const t = tensors.get(n);
    if (!t) throw new Error(`convert: missing parameter ${n}`);
    return t;
  }));
  await part('vision', manifest.files.vision, () => { read.clear(); return buildVisionGraph(cfg, inferenceParams(source, cfg.adapter.nVisualTokens)); });
  await part('decoder', manifest.files.decoder, async () => {
    read.clear();
    const policy = llamaLinearPolicy(opts.weights);
    if (!opts.read) return buildDecoderGraph(cfg, inferenceParams(source, cfg.adapter.nVisualTokens, policy), manifest.kernels);
    const { tensors: filled, prequantized } = await readDeferred(tensors, policy, opts.read, (n) => opts.onProgress?.({ part: 'decoder', phase: 'build', done: n, total: tensors.size }));
    return buildDecoderGraph(cfg, inferenceParams(filled, cfg.adapter.nVisualTokens, policy, prequantized), manifest.kernels);
  });
  writeAtomic(path.join(outDir, CONVERTED_FILE), Buffer.from(JSON.stringify(manifest, null, 2)));
  return manifest;
}

/**
 * The decoder's parameters with every deferred entry (shape, no data) read through `read`: weights
 * the policy quantises are quantised as they arrive, so one source weight is in memory at a time
 * (the quantised copies make up the decoder anyway); the rest are read as they are.
 */
async function readDeferred(
  tensors: ReadonlyMap<string, HostTensor>,
  policy: LinearPolicy,
  read: (name: string) => Promise<HostTensor>,
  onRead: (count: number) => void,
): Promise<{ tensors: ReadonlyMap<string, HostTensor>; prequantized: Map<string, QuantizedWeight> }> {
  const prequantized = new Map<string, QuantizedWeight>();
  const filled = new Map(tensors);
  const deferred = [...filled].filter(([, t]) => t.data.byteLength === 0 && numel(t.shape) > 0).map(([n]) => n);
  const bits = bitsOf(policy.format);
  let count = 0;
  for (const name of deferred) {
    const t = await read(name);
    if (bits && (!policy.applies || policy.applies(name))) prequantized.set(name, quantizeWeight(t, bits, name, policy.blockSize));
    else filled.set(name, t);
    onRead(++count);
  }
  return { tensors: filled, prequantized };
}

export function readConverted(dir: string): ConvertedManifest {
  const file = path.join(dir, CONVERTED_FILE);
  if (!fs.existsSync(file)) throw new Error(`converted folder ${dir}: no ${CONVERTED_FILE} (run convert first)`);
  let m: ConvertedManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`converted folder ${dir}: ${CONVERTED_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  if (m.format !== 'lavin-code-converted' || m.version !== 1) throw new Error(`converted folder ${dir}: ${CONVERTED_FILE} is not a version 1 lavin-code-converted manifest`);
  if (!WEIGHT_FORMATS.includes(m.weights)) throw new Error(`converted folder ${dir}: unknown weight format "${m.weights}"`);
  for (const f of Object.values(m.files)) {
    if (!fs.existsSync(path.join(dir, f))) throw new Error(`converted folder ${dir}: ${f} is missing (re-run convert)`);
  }
  // Copies written before the backbone fields existed are LLaMA-1 models.
  m.cfg = { ...m.cfg, llama: { ...llama1Backbone(m.cfg.llama.nHeads), ...m.cfg.llama } };
  return m;
}

/** Serialise a graph to `file` + `file.data`, streaming weight bytes (never one big buffer). */
export async function writeOnnx(graph: Graph, file: string, onProgress?: (done: number, total: number) => void): Promise<void> {
  const dataName = `${path.basename(file)}.data`;
  const { model, external } = serializeModel(graph, { externalThreshold: EXTERNAL_THRESHOLD, externalFile: dataName, externalAlign: EXTERNAL_ALIGN });
  const dataPath = path.join(path.dirname(file), dataName);
  if (external) {
    const partial = `${dataPath}.partial`;
    const fd = fs.openSync(partial, 'w');
    try {
      let done = 0;
      for (const c of external.chunks) {
        fs.writeSync(fd, c.data, 0, c.data.byteLength, c.offset);
        done += c.data.byteLength;
        onProgress?.(done, external.size);
      }
      if (fs.fstatSync(fd).size < external.size) fs.ftruncateSync(fd, external.size);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(partial, dataPath);
  } else if (fs.existsSync(dataPath)) {
    fs.unlinkSync(dataPath);
  }
  writeAtomic(file, model);
}

/** A minimal safetensors writer for the host tensors. */
export function writeSafetensors(file: string, names: string[], tensors: HostTensor[], onProgress?: (done: number, total: number) => void): void {
  const ST: Partial<Record<HostTensor['dtype'], string>> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', uint8: 'U8' };
  const header: Record<string, unknown> = {};
  let offset = 0;
  tensors.forEach((t, i) => {
    const dtype = ST[t.dtype];
    if (!dtype) throw new Error(`writeSafetensors: ${names[i]} has unsupported dtype ${t.dtype}`);
    const bytes = numel(t.shape) * BYTES_PER_ELEMENT[t.dtype];
    header[names[i]] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  });
  let json = Buffer.from(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const partial = `${file}.partial`;
  const fd = fs.openSync(partial, 'w');
  try {
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    let done = 0;
    for (const t of tensors) {
      fs.writeSync(fd, t.data);
      done += t.data.byteLength;
      onProgress?.(done, offset);
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(partial, file);
}

function writeAtomic(file: string, data: Uint8Array): void {
  fs.writeFileSync(`${file}.partial`, data);
  fs.renameSync(`${file}.partial`, file);
}

/** Where a model folder's converted copy for a weight format and kernel choice lives. */
export function convertedDirFor(modelDir: string, weights: WeightFormat, kernels: Kernels = 'fused'): string {
  return path.join(modelDir, 'converted', `${weights}-${kernels}`);
}

/** Manifest fields that do not change what `convert` writes (a model's setup sets `precision` after converting). */
const FINGERPRINT_IGNORES = new Set(['name', 'description', 'precision', 'positionMode']);

/**
 * Identifies a model folder's weights: the manifest fields that shape the converted files plus
 * size and modification time of every file it names (a changed checkpoint makes copies stale).
 */
export function sourceFingerprint(modelDir: string): string {
  const m = readManifest(modelDir);
  const shaping = Object.fromEntries(Object.entries(m).filter(([k]) => !FINGERPRINT_IGNORES.has(k)).sort(([a], [b]) => a.localeCompare(b)));
  const parts = [JSON.stringify(shaping)];
  const stamp = (p: string) => {
    const full = path.isAbsolute(p) ? p : path.join(modelDir, p);
    if (!fs.existsSync(full)) return;
    const st = fs.statSync(full);
    if (st.isDirectory()) for (const f of fs.readdirSync(full).sort()) stamp(path.join(full, f));
    else parts.push(`${full}:${st.size}:${st.mtimeMs}`);
  };
  for (const p of [m.llama, m.clip, m.adapter]) stamp(p);
  return parts.join('\n');
}

/** True when `dir` holds a complete conversion of the source with this fingerprint. */
export function isConvertedCurrent(dir: string, fingerprint: string): boolean {
  try {
    const m = readConverted(dir);
    return m.source === fingerprint && m.graphVersion === GRAPH_VERSION;
  } catch {
    return false;
  }
}

/** Convert a model folder (model.json) into `<dir>/converted/<weights>-<kernels>`; resumable. */
export async function convertModelDir(modelDir: string, weights: WeightFormat, opts: { kernels?: Kernels; onProgress?: (p: ConvertProgress) => void; force?: boolean } = {}): Promise<string> {
  // The LLaMA linears stay in the checkpoint until the decoder part reads them one by one.
  const opened = await openModelDir(modelDir, { deferLinears: true });
  try {
    const out = convertedDirFor(modelDir, weights, opts.kernels);
    await convertModel(opened.cfg, opened.tensors, out, { weights, kernels: opts.kernels, source: sourceFingerprint(modelDir), onProgress: opts.onProgress, force: opts.force, read: opened.read });
    return out;
  } finally {
    await opened.close();
  }
}
