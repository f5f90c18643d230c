// The WebGPU provider's numerics without a GPU: every forward golden, with the model on onnxruntime's
// WebGPU provider (Dawn) over Mesa's software Vulkan (lavapipe, put in .cache/lavapipe by
// `npm run setup`), within the fixture README's tolerances. Runs in a child process: the Vulkan
// loader and its driver are chosen from the environment when the process starts.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import type { KvTraffic, ParityReport, ProviderParity } from './deviceParity';

const REPO = path.join(__dirname, '..', '..', '..');
const LAVAPIPE = path.join(REPO, '.cache', 'lavapipe');
const ICD = path.join(LAVAPIPE, 'lvp_icd.json');

describe('golden forward on WebGPU (lavapipe)', () => {
  test('every forward golden within the fixture tolerances, every node on the WebGPU provider; fp16 and int4 weights (float16 activations) agree with the CPU provider; decode keeps the KV cache on the device', { skip: fs.existsSync(ICD) ? false : `no ${ICD}: run npm run setup (scripts/install-lavapipe.sh)` }, async (t) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_TEST_CONTEXT: undefined, // the child runs deviceParity.js as a script, not as a test file
      VK_ICD_FILENAMES: ICD,
      LD_LIBRARY_PATH: [path.join(LAVAPIPE, 'root/usr/lib/x86_64-linux-gnu'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
    };
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [path.join(__dirname, 'deviceParity.js'), 'webgpu', 'fp16', 'int4'], { env, timeout: 600_000, maxBuffer: 1 << 24 }, (err, out, errOut) => {
        if (!out.trim()) reject(new Error(`deviceParity.js printed nothing (${err?.message ?? 'exit 0'})\n${errOut.slice(-2000)}`));
        else resolve(out);
      });
    });
    const report = JSON.parse(stdout.trim().split('\n').pop()!) as ParityReport & { error?: string; providerParity: ProviderParity[]; kvTraffic: KvTraffic };
    assert.equal(report.error, undefined, report.error);
    assert.ok(report.rows.length >= 2, 'the fixture has forward checks');
    for (const r of report.rows) t.diagnostic(`${r.ok ? 'ok' : 'FAILED'} ${r.check}: ${r.detail}`);
    for (const p of report.placement) t.diagnostic(p);
    assert.deepEqual(report.rows.filter((r) => !r.ok).map((r) => `${r.check}: ${r.detail}`), []);
    // The vision and decoder sessions, and those that keep the KV cache on the device (deviceKv.ts).
    for (const s of ['lavin_vision', 'lavin_decoder', 'lavin_kv_upload', 'lavin_kv_write']) assert.ok(report.placement.some((p) => p.includes(`placement of ${s} `)), `${s} reported its placement`);
    for (const p of report.placement) assert.match(p, /every node on the GPU provider/);
    assert.deepEqual(report.providerParity.map((p) => p.weights), ['fp16', 'int4']);
    const kv = report.kvTraffic;
    t.diagnostic(`decode step, KV cache on the device: ${kv.onDevice.hostInputBytes.toFixed(0)} B up, ${kv.onDevice.hostOutputBytes.toFixed(0)} B down; in host memory: ${kv.onHost.hostInputBytes.toFixed(0)} B up, ${kv.onHost.hostOutputBytes.toFixed(0)} B down (cache ${kv.cacheBytes} B)`);
    assert.equal(kv.maxLogitDifference, 0, 'the same decoder gives the same logits with the cache on the device or the host');
    assert.ok(kv.onHost.hostInputBytes >= kv.cacheBytes, `the host path uploads the whole cache each step (${kv.onHost.hostInputBytes} B, cache ${kv.cacheBytes} B)`);
    // On the device only the step's own inputs go up (embedding row, position, one bias row over
    // the slots, router weights, the write's row mask): far below the cache.
    assert.ok(kv.onDevice.hostInputBytes < kv.cacheBytes / 16, `a device step uploads ${kv.onDevice.hostInputBytes} B (cache ${kv.cacheBytes} B)`);
    assert.ok(kv.onDevice.hostOutputBytes < kv.onHost.hostOutputBytes, 'a device step downloads no keys or values');
    for (const p of report.providerParity) {
      t.diagnostic(`${p.weights} vs the CPU provider: max error ${p.worstRelativeError.toExponential(2)} of max|ref| (${p.tolerance}), top-1 ${p.top1Agreement}`);
      assert.ok(p.ok, `${p.weights}: ${JSON.stringify(p)}`);
    }
  });
});
