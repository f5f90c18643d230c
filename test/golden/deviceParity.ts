// The golden forward checks on another execution provider (webgpu, cuda): the same checks and the
// fixture README's tolerances as the CPU suite. Used by the lavapipe test (WebGPU numerics on the CPU
// through Mesa's software Vulkan) and by `npm run check:gpu`. Run alone it prints one JSON line:
//   node out/test/golden/deviceParity.js webgpu

import { loadModelDir } from '../../server/engine/modelDir';
import { LavinRuntime } from '../../server/engine/runtime';
import type { ExecutionDevice } from '../../server/engine/session';
import { FIXTURE_DIR, fixtureModelDir, readGoldenJson, readGoldenTensors } from './fixture';
import { forwardChecks } from './forwardChecks';

export interface ParityRow {
  check: string;
  ok: boolean;
  /** The check's own report (max |err| and its bound), or the error it threw. */
  detail: string;
}

export interface ParityReport {
  device: ExecutionDevice;
  fixture: string;
  rows: ParityRow[];
  seconds: number;
  /** Node placement lines the engine logged (which nodes ran on the CPU provider instead). */
  placement: string[];
}

/** Every forward golden of LAVIN_FIXTURE_DIR with the model's sessions on `device` (float32 weights, plain kernels). */
export async function goldenParity(device: ExecutionDevice): Promise<ParityReport> {
  const t0 = performance.now();
  const golden = readGoldenJson();
  const tensors = await readGoldenTensors();
  const weights = await loadModelDir(fixtureModelDir('openai'));
  const placement: string[] = [];
  const runtime = await LavinRuntime.create(weights.cfg, weights.tensors, { device, threads: 1, log: (m) => placement.push(m) }, { kernels: device === 'cpu' ? 'fused' : 'plain' });
  const rows: ParityRow[] = [];
  try {
    for (const check of forwardChecks(Object.keys(golden.cases))) {
      try {
        rows.push({ check: check.name, ok: true, detail: await check.run({ runtime, golden, tensors }) });
      } catch (e) {
        rows.push({ check: check.name, ok: false, detail: (e as Error).message.split('\n')[0] });
      }
    }
  } finally {
    await runtime.dispose();
  }
  return { device, fixture: FIXTURE_DIR, rows, seconds: (performance.now() - t0) / 1000, placement };
}

// (not when node --test loads this file as a test file: NODE_TEST_CONTEXT is set there)
if (require.main === module && process.env.NODE_TEST_CONTEXT === undefined) {
  const device = (process.argv[2] ?? 'webgpu') as ExecutionDevice;
  goldenParity(device).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e) => {
      process.stdout.write(JSON.stringify({ device, error: (e as Error).message.split('\n')[0] }) + '\n');
      process.exitCode = 1;
    },
  );
}
