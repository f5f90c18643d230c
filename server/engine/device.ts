// Which execution provider a model runs on: 'auto' tries CUDA, then WebGPU, then the CPU, and says
// why each GPU provider was passed over. Probes run in a child process: a provider that cannot start
// makes onnxruntime and Dawn print native errors to the terminal, and a broken driver can crash.

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as path from 'path';
import type { Device } from './api';
import { Builder } from './graph/builder';
import { Graph } from './graph/graph';
import { serializeModel } from './graph/onnx';
import type { ExecutionDevice } from './session';

/** The order 'auto' tries; the CPU always works. */
export const AUTO_ORDER: readonly ExecutionDevice[] = ['cuda', 'webgpu', 'cpu'];

/** Why a GPU provider cannot run here (undefined: it can). */
export type DeviceProbe = (device: Exclude<ExecutionDevice, 'cpu'>, requested: Device) => Promise<string | undefined>;

export interface DeviceChoice {
  device: ExecutionDevice;
  /** The providers tried before it, with the reason each was passed over. */
  skipped: { device: ExecutionDevice; reason: string }[];
}

/** One line for logs, the status bar and `done.deviceNote`: which provider runs and why not the others. */
export function describeChoice(c: DeviceChoice): string {
  const why = c.skipped.map((s) => `${s.device}: ${s.reason}`).join('; ');
  return why ? `${c.device} (${why})` : c.device;
}

/**
 * The execution provider for a device setting. 'auto' takes the first of AUTO_ORDER whose probe
 * passes, logging why each one before it was skipped; an explicitly requested device that does not
 * work is an error naming the reason. `probe` is injectable for tests; by default the verdicts are
 * cached for the life of the process.
 */
export async function chooseDevice(requested: Device, opts: { log?: (m: string) => void; probe?: DeviceProbe } = {}): Promise<DeviceChoice> {
  const log = opts.log ?? (() => {});
  const probe = opts.probe ?? cachedProbe;
  if (requested === 'cpu') return { device: 'cpu', skipped: [] };
  if (requested !== 'auto') {
    const problem = await probe(requested, requested);
    if (problem) throw new Error(`device ${requested} is not usable: ${problem} (README "GPU"; use --device cpu or auto)`);
    log(`device ${requested}: usable`);
    return { device: requested, skipped: [] };
  }
  const skipped: DeviceChoice['skipped'] = [];
  for (const device of AUTO_ORDER) {
    if (device === 'cpu') break;
    const problem = await probe(device, 'auto');
    if (!problem) {
      log(`device auto: using ${device}`);
      return { device, skipped };
    }
    log(`device auto: skipping ${device} (${problem})`);
    skipped.push({ device, reason: problem });
  }
  log('device auto: using the CPU');
  return { device: 'cpu', skipped };
}

const verdicts = new Map<string, Promise<string | undefined>>();

/** defaultProbe, once per provider and request kind per process (a child process costs ~0.3 s). */
const cachedProbe: DeviceProbe = (device, requested) => {
  const key = `${device}/${requested === 'auto' ? 'auto' : 'explicit'}`;
  let v = verdicts.get(key);
  if (!v) verdicts.set(key, (v = defaultProbe(device, requested)));
  return v;
};

/** The real probe: cheap checks first, then a tiny graph run on the provider in a child process. */
export async function defaultProbe(device: Exclude<ExecutionDevice, 'cpu'>, requested: Device): Promise<string | undefined> {
  const backends = ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  if (!backends.some((b) => b.name === device)) return `not in this onnxruntime-node build (it has ${backends.map((b) => b.name).join(', ')})`;
  if (device === 'cuda' && !cudaProviderInstalled()) return "onnxruntime's CUDA provider library is not installed (README: GPU)";
  // Dawn also accepts software Vulkan (Mesa's lavapipe), slower than onnxruntime's own CPU kernels:
  // 'auto' wants a GPU, so without a GPU device node there is nothing for it to find.
  if (device === 'webgpu' && requested === 'auto') {
    const node = gpuDeviceNode();
    if (node === null) return 'no GPU device node (/dev/dri/renderD*, /dev/nvidia*): any Vulkan adapter here would be a software renderer';
  }
  return probeInChild(device);
}

/** A GPU's device file on Linux (undefined: not Linux, cannot tell; null: none). */
export function gpuDeviceNode(): string | null | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const dri = fs.existsSync('/dev/dri') ? fs.readdirSync('/dev/dri').filter((f) => f.startsWith('renderD')) : [];
    if (dri.length) return `/dev/dri/${dri[0]}`;
    if (fs.existsSync('/dev/nvidia0')) return '/dev/nvidia0';
  } catch {
    return undefined;
  }
  return null;
}

/** Whether onnxruntime-node's optional CUDA provider library was installed next to its binding. */
function cudaProviderInstalled(): boolean {
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  const dir = bindingDir();
  return dir !== undefined && fs.existsSync(path.join(dir, lib));
}

function bindingDir(): string | undefined {
  try {
    const root = path.dirname(require.resolve('onnxruntime-node/package.json'));
    return path.join(root, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

/** A one-node graph (y = x + x) whose result the child checks: the provider really computed. */
function probeModel(): Uint8Array {
  const g = new Graph('device_probe');
  const b = new Builder(g);
  const x = b.input('x', 'float32', [4]);
  b.output(b.add(x, x), 'y');
  return serializeModel(g, {}).model;
}

const PROBE_SCRIPT = `
const ort = require(process.env.LAVIN_PROBE_ORT);
const model = Buffer.from(process.env.LAVIN_PROBE_MODEL, 'base64');
(async () => {
  const s = await ort.InferenceSession.create(model, { executionProviders: [process.env.LAVIN_PROBE_DEVICE], logSeverityLevel: 3 });
  const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]);
  const y = (await s.run({ x })).y.data;
  if (Array.from(y).join(',') !== '2,4,6,8') throw new Error('wrong result ' + Array.from(y).join(','));
  process.stdout.write('LAVIN_PROBE_OK\\n');
  process.exit(0);
})().catch((e) => { process.stdout.write('LAVIN_PROBE_FAIL ' + String(e && e.message).split('\\n')[0] + '\\n'); process.exit(2); });
`;

const PROBE_TIMEOUT_MS = 30_000;

/** Create and run the probe graph on `device` in a child node process; its native output is captured. */
async function probeInChild(device: ExecutionDevice): Promise<string | undefined> {
  let ortPath: string;
  try {
    ortPath = require.resolve('onnxruntime-node');
  } catch (e) {
    return `onnxruntime-node not found (${(e as Error).message.split('\n')[0]})`;
  }
  const env = { ...process.env, ELECTRON_RUN_AS_NODE: '1', LAVIN_PROBE_ORT: ortPath, LAVIN_PROBE_DEVICE: device, LAVIN_PROBE_MODEL: Buffer.from(probeModel()).toString('base64') };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', PROBE_SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(`the probe process did not start (${e.message})`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && out.includes('LAVIN_PROBE_OK')) return resolve(undefined);
      if (signal) return resolve(signal === 'SIGKILL' ? `the probe did not finish in ${PROBE_TIMEOUT_MS / 1000} s` : `the probe crashed (${signal})`);
      resolve(probeFailure(out, err));
    });
  });
}

/** One line from the child's output: onnxruntime's error, with Dawn's reason when it printed one. */
export function probeFailure(stdout: string, stderr: string): string {
  const failed = /LAVIN_PROBE_FAIL (.*)/.exec(stdout)?.[1] ?? stderr.trim().split('\n').pop() ?? 'unknown error';
  // Dawn prints why it refused each adapter as "Warning: <reason>" lines on stderr.
  const dawn = [...stderr.matchAll(/^Warning: (.+)$/gm)].map((m) => m[1].trim()).filter((w) => !/artificially reduced/.test(w));
  if (/Failed to get a WebGPU adapter/.test(failed)) {
    return `no WebGPU adapter${dawn.length ? ` (Dawn: ${[...new Set(dawn)].join('; ')})` : ''}`;
  }
  const short = failed.replace(/^.*?(?:was false\. |\] )/, '').replace(/^could not create .*? session on \w+: /, '');
  return short.length > 300 ? `${short.slice(0, 300)}…` : short;
}
