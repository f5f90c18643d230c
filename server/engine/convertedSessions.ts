// Opening the sessions of a converted copy (convertedCopy.ts): the host tensors, the ViT on the
// first image, and the decoder, which int8/int4 models on the CPU open from onnxruntime's packed
// weights when a checked copy is current, writing and checking one when asked (packedWeights.ts).
// The per-token work on the opened sessions is runtime.ts's.

import * as fs from 'fs';
import type * as ort from 'onnxruntime-node';
import * as path from 'path';
import { HOST_TENSORS, readConverted } from './convertedCopy';
import { LavinConfig } from './lavin';
import { commitPacked, discardPacked, freeBytes, newPackedWrite, packedIdentity, packedPaths, packedState } from './packedWeights';
import { bitsOf } from './quant';
import { decoderSessionConfig } from './deviceKv';
import { createSessionFromFile, SessionConfig } from './session';
import { HostTensor } from './tensor';
import { openTensorFile } from './weights';

export interface OpenOptions {
  /**
   * int8/int4 on the CPU: 'use' (default) opens a current packed copy of the decoder when there is
   * one; 'write' also makes and checks one when there is none; 'ignore' opens the source decoder.
   */
  packed?: 'use' | 'write' | 'ignore';
  log?: (message: string) => void;
}

/** The largest absolute difference between two lists of arrays (NaN where any value is NaN). */
function maxDifference(a: Float32Array[], b: Float32Array[]): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i].length !== b[i].length) return Infinity;
    for (let j = 0; j < a[i].length; j++) {
      const x = Math.abs(a[i][j] - b[i][j]);
      if (Number.isNaN(x)) return NaN;
      if (x > d) d = x;
    }
  }
  return d;
}

/** What opening needs of the runtime it makes: a fixed check of the decoder's outputs, and release. */
export interface CheckedRuntime {
  /** A fixed three-token step from an empty cache: two decoders of one model agree on it only if every weight does. */
  checkOutputs(): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

/** Makes the runtime over opened sessions (LavinRuntime's constructor). */
export type MakeRuntime<R> = (cfg: LavinConfig, vision: () => Promise<ort.InferenceSession>, decoder: ort.InferenceSession, host: Map<string, HostTensor>, decoderFile: string) => R;

/**
 * Open a folder written by `convert` (no weights are converted or quantised here). The ViT
 * session is created on the first image. int8/int4 decoders on the CPU open from their packed
 * copy when it is current (packedWeights.ts); `packed: 'write'` makes and checks one when it is not.
 */
export async function openConvertedSessions<R extends CheckedRuntime>(dir: string, session: SessionConfig, opts: OpenOptions, create: MakeRuntime<R>): Promise<R> {
  const m = readConverted(dir);
  const host = new Map<string, HostTensor>();
  const file = await openTensorFile(path.join(dir, m.files.host));
  try {
    for (const name of file.names()) host.set(name, await file.read(name));
    for (const name of HOST_TENSORS) if (!host.has(name)) throw new Error(`converted folder ${dir}: ${m.files.host} lacks ${name} (convert again)`);
  } finally {
    await file.close();
  }
  const vision = () => createSessionFromFile(path.join(dir, m.files.vision), session);
  const make = (decoder: ort.InferenceSession, from: string) => create(m.cfg, vision, decoder, host, from);
  const source = path.join(dir, m.files.decoder);
  // On WebGPU the decoder's added keys and values stay on the device (deviceKv.ts); GPU providers open the source decoder.
  const fromSource = async () => make(await createSessionFromFile(source, decoderSessionConfig(session, m.cfg.llama.nLayers)), source);
  const cpu = (session.device ?? 'cpu') === 'cpu';
  // float32 weights on the CPU: no repacking, so the MatMuls read the memory-mapped data file, as
  // llama.cpp does. 1b, alternating runs: the session opens in 0.4 s instead of 9-11 s (7B: about
  // a minute), decode equal, a 512-token prompt 12-15% slower. (The ViT keeps repacking: unpacked,
  // its first image came 1 s sooner but every image took 25% longer.)
  if (m.weights === 'fp32' && cpu) return make(await createSessionFromFile(source, { prepack: false, ...session }), source);
  const packed = opts.packed ?? 'use';
  if (!cpu || !bitsOf(m.weights) || packed === 'ignore') return fromSource();
  const log = opts.log ?? (() => {});
  const state = packedState(dir, m.files.decoder);
  if (state.state === 'usable') {
    try {
      return make(await createSessionFromFile(state.model, session), state.model);
    } catch (e) {
      log(`the packed weights ${state.model} did not open (${(e as Error).message.split('\n')[0]}); opening ${source}`);
    }
  } else if (packed === 'write' && state.state !== 'inexact') {
    return openWritingPacked(dir, m.files.decoder, session, make, fromSource, log);
  }
  return fromSource();
}

/**
 * Open the source decoder while onnxruntime saves its repacked weights, then open that copy and
 * keep it only when it gives the source's outputs bit for bit (the verdict is stamped either way).
 * One session at a time: at 7B two would not fit in 8 GB.
 */
async function openWritingPacked<R extends CheckedRuntime>(
  dir: string,
  decoderFile: string,
  session: SessionConfig,
  make: (d: ort.InferenceSession, from: string) => R,
  fromSource: () => Promise<R>,
  log: (m: string) => void,
): Promise<R> {
  const source = path.join(dir, decoderFile);
  const need = 2 * fs.statSync(`${source}.data`).size + (1 << 30);
  if (freeBytes(dir) < need) {
    log(`not saving packed weights beside ${source}: ${(need / 1e9).toFixed(1)} GB of free disk needed`);
    return fromSource();
  }
  const identity = packedIdentity(dir, decoderFile);
  const written = newPackedWrite(dir, decoderFile);
  let writer: R;
  try {
    writer = make(await createSessionFromFile(source, { ...session, savePacked: written }), source);
  } catch (e) {
    discardPacked(dir, written);
    log(`could not save packed weights (${(e as Error).message.split('\n')[0]}); opening ${source}`);
    return fromSource();
  }
  const expected = await writer.checkOutputs();
  await writer.dispose();
  let copy: ort.InferenceSession | undefined;
  let detail: string;
  let exact = false;
  try {
    copy = await createSessionFromFile(written.model, session);
    const diff = maxDifference(expected, await make(copy, written.model).checkOutputs());
    exact = diff === 0;
    detail = exact ? 'outputs bit-identical to the source decoder' : `outputs differ from the source decoder's (max difference ${diff})`;
  } catch (e) {
    detail = `did not open: ${(e as Error).message.split('\n')[0]}`;
  }
  try {
    commitPacked(dir, decoderFile, written, identity, exact, detail);
  } catch (e) {
    // e.g. a file system that will not rename an open file: keep nothing, run from the source
    await copy?.release();
    discardPacked(dir, written);
    log(`could not record packed weights beside ${source} (${(e as Error).message.split('\n')[0]}); opening the source`);
    return fromSource();
  }
  if (exact) {
    const { model } = packedPaths(dir, decoderFile);
    log(`saved onnxruntime's packed weights as ${model} (${detail}): later starts skip repacking`);
    return make(copy!, model);
  }
  await copy?.release();
  log(`onnxruntime's packed weights are not used for ${source}: ${detail}`);
  return fromSource();
}
