// onnxruntime's repacked int8/int4 weights, saved once beside a converted decoder.
//
// MatMulNBits repacks every weight into its kernel's layout when a session opens: 7B int4 spends
// about 9 s of its open there. onnxruntime can save an optimized copy of the graph whose data file
// holds the repacked weights; that copy opens in about 2.6 s and maps them from the file. The copy
// is only valid for the onnxruntime build and CPU that wrote it (the layout follows the kernel the
// CPU's features select), and onnxruntime 1.30's writer is wrong for weights under 1 MiB (measured:
// their blobs come back shifted, NaN logits). So a copy is used only after it reproduced the source
// session's outputs bit for bit, and its stamp names the onnxruntime version, the CPU and the source
// files; any change makes it stale. A copy that failed the check is remembered, not retried.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const STAMP_VERSION = 1;

export interface PackedStamp {
  version: number;
  /** onnxruntime-node version, CPU model + features, and the source decoder files' size + mtime. */
  identity: string;
  /** The optimized graph (final name) and the data file it names (unique per write). */
  model: string;
  data: string;
  /** false: the copy did not reproduce the source's outputs; the source is opened instead. */
  exact: boolean;
  detail: string;
}

/** `decoder.int4.fused` for `decoder.int4.fused.onnx`: every copy's and stamp's name starts with it. */
function baseOf(decoderFile: string): string {
  return decoderFile.replace(/\.onnx$/, '');
}

/** The decoder's packed copy: `<decoder>.packed.onnx` and its stamp. */
export function packedPaths(dir: string, decoderFile: string): { model: string; stamp: string } {
  const base = baseOf(decoderFile);
  return { model: path.join(dir, `${base}.packed.onnx`), stamp: path.join(dir, `${base}.packed.json`) };
}

function onnxruntimeVersion(): string {
  try {
    return (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The CPU as the kernels see it: model name and, on Linux, the feature flags (AVX-512, AMX...). */
function cpuSignature(): string {
  let flags = '';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    flags = /^flags\s*:(.*)$/m.exec(info)?.[1]?.trim() ?? '';
  } catch {
    // not Linux: the model name and architecture have to do
  }
  const model = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${process.arch} ${model} ${crypto.createHash('sha256').update(flags).digest('hex').slice(0, 16)}`;
}

/** What a packed copy must match to stand in for `decoderFile` here. */
export function packedIdentity(dir: string, decoderFile: string): string {
  const files = [decoderFile, `${decoderFile}.data`].map((f) => {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) return `${f}:absent`;
    const st = fs.statSync(p);
    return `${f}:${st.size}:${st.mtimeMs}`;
  });
  return [`onnxruntime ${onnxruntimeVersion()}`, cpuSignature(), ...files].join('|');
}

export function readPackedStamp(dir: string, decoderFile: string): PackedStamp | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(packedPaths(dir, decoderFile).stamp, 'utf8')) as PackedStamp;
    return s.version === STAMP_VERSION ? s : undefined;
  } catch {
    return undefined;
  }
}

export type PackedState =
  | { state: 'usable'; model: string }
  | { state: 'inexact'; detail: string }
  | { state: 'absent' | 'stale' };

/** Whether this decoder has a packed copy that may be opened in its place. */
export function packedState(dir: string, decoderFile: string): PackedState {
  const s = readPackedStamp(dir, decoderFile);
  if (!s) return { state: 'absent' };
  if (s.identity !== packedIdentity(dir, decoderFile)) return { state: 'stale' };
  if (!s.exact) return { state: 'inexact', detail: s.detail };
  const { model } = packedPaths(dir, decoderFile);
  if (!fs.existsSync(model) || !fs.existsSync(path.join(dir, s.data))) return { state: 'absent' };
  return { state: 'usable', model };
}

/**
 * Where onnxruntime should write a new copy: a unique file pair, so two processes opening the same
 * model never write into each other's files (the graph names its data file, which keeps its name).
 */
export function newPackedWrite(dir: string, decoderFile: string): { model: string; data: string } {
  const base = baseOf(decoderFile);
  const tag = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  return { model: path.join(dir, `${base}.packed-${tag}.onnx`), data: `${base}.packed-${tag}.onnx.data` };
}

/** Bytes free on the file system that holds `dir` (Infinity where node cannot tell). */
export function freeBytes(dir: string): number {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return Infinity;
  }
}

/** Record a checked write: an exact copy takes the final name; an inexact one is deleted. */
export function commitPacked(dir: string, decoderFile: string, written: { model: string; data: string }, identity: string, exact: boolean, detail: string): void {
  const paths = packedPaths(dir, decoderFile);
  const stamp: PackedStamp = { version: STAMP_VERSION, identity, model: path.basename(paths.model), data: exact ? written.data : '', exact, detail };
  if (exact) fs.renameSync(written.model, paths.model);
  else removeQuietly([written.model, path.join(dir, written.data)]);
  fs.writeFileSync(`${paths.stamp}.partial`, JSON.stringify(stamp, null, 2));
  fs.renameSync(`${paths.stamp}.partial`, paths.stamp);
  removeOtherCopies(dir, decoderFile, exact ? written.data : undefined);
}

/** Drop a write that could not be checked (onnxruntime failed, the check threw). */
export function discardPacked(dir: string, written: { model: string; data: string }): void {
  removeQuietly([written.model, path.join(dir, written.data)]);
}

/**
 * Delete copies other than `keepData` (earlier writes, interrupted ones). A running backend may
 * still map one: on Linux and macOS the mapping outlives the name; elsewhere the delete fails and
 * the file is left for the next write.
 */
function removeOtherCopies(dir: string, decoderFile: string, keepData?: string): void {
  const prefix = `${baseOf(decoderFile)}.packed-`;
  const stale = fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && f !== keepData);
  removeQuietly(stale.map((f) => path.join(dir, f)));
}

function removeQuietly(files: string[]): void {
  for (const f of files) {
    try {
      fs.rmSync(f, { force: true });
    } catch {
      // in use (Windows): left for the next write
    }
  }
}
