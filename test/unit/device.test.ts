// Device choice: the order 'auto' tries, what an explicit request does when its provider fails, and
// how the child probe's native output becomes one line. Probes are injected; one test runs the real one.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AUTO_ORDER, chooseDevice, defaultProbe, DeviceProbe, describeChoice, probeFailure } from '../../server/engine/device';
import { describePlacement, summarizePlacement } from '../../server/engine/placement';

/** A probe with fixed verdicts that records what it was asked. */
function fakeProbe(verdicts: Record<string, string | undefined>): { probe: DeviceProbe; asked: string[] } {
  const asked: string[] = [];
  return { asked, probe: async (device, requested) => (asked.push(`${device}/${requested}`), verdicts[device]) };
}

describe('device choice with injected probes', () => {
  test('auto tries cuda, then webgpu, then the cpu, and logs each reason', async () => {
    assert.deepEqual(AUTO_ORDER, ['cuda', 'webgpu', 'cpu']);
    const { probe, asked } = fakeProbe({ cuda: 'no CUDA library', webgpu: 'no WebGPU adapter' });
    const log: string[] = [];
    const c = await chooseDevice('auto', { probe, log: (m) => log.push(m) });
    assert.equal(c.device, 'cpu');
    assert.deepEqual(asked, ['cuda/auto', 'webgpu/auto']);
    assert.deepEqual(c.skipped, [{ device: 'cuda', reason: 'no CUDA library' }, { device: 'webgpu', reason: 'no WebGPU adapter' }]);
    assert.ok(log.some((l) => /skipping cuda \(no CUDA library\)/.test(l)), log.join('\n'));
    assert.ok(log.some((l) => /skipping webgpu \(no WebGPU adapter\)/.test(l)), log.join('\n'));
    assert.equal(describeChoice(c), 'cpu (cuda: no CUDA library; webgpu: no WebGPU adapter)');
  });

  test('auto stops at the first usable provider', async () => {
    const webgpu = fakeProbe({ cuda: 'no CUDA library', webgpu: undefined });
    const c = await chooseDevice('auto', { probe: webgpu.probe });
    assert.deepEqual([c.device, c.skipped.map((s) => s.device)], ['webgpu', ['cuda']]);
    const cuda = fakeProbe({ cuda: undefined, webgpu: undefined });
    assert.equal((await chooseDevice('auto', { probe: cuda.probe })).device, 'cuda');
    assert.deepEqual(cuda.asked, ['cuda/auto'], 'webgpu is not probed once cuda works');
  });

  test('an explicit device that fails is an error with its reason; cpu probes nothing', async () => {
    const { probe, asked } = fakeProbe({ webgpu: 'no WebGPU adapter (Dawn: Vulkan shaderUniform*ArrayDynamicIndexing required.)' });
    await assert.rejects(chooseDevice('webgpu', { probe }), /^Error: device webgpu is not usable: no WebGPU adapter \(Dawn: Vulkan shaderUniform\*ArrayDynamicIndexing required\.\)/);
    assert.deepEqual(asked, ['webgpu/webgpu']);
    assert.deepEqual(await chooseDevice('cpu', { probe }), { device: 'cpu', skipped: [] });
    assert.equal(asked.length, 1);
    assert.equal((await chooseDevice('webgpu', { probe: fakeProbe({}).probe })).device, 'webgpu');
  });
});

describe('probe output', () => {
  // Recorded from onnxruntime-node 1.30 on these machines (no libvulkan; Debian 12's lavapipe).
  const ORT_NO_ADAPTER =
    'LAVIN_PROBE_FAIL /onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n';

  test("Dawn's reason is kept, in one line", () => {
    const noVulkan = 'Warning: Couldn\'t load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory\n    at operator() (/build/Release/_deps/dawn-src/src/dawn/native/vulkan/BackendVk.cpp:368)\n\n';
    assert.equal(probeFailure(ORT_NO_ADAPTER, noVulkan), "no WebGPU adapter (Dawn: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory)");
    const llvmpipe = 'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.\n - While initializing adapter (backend=BackendType::Vulkan)\n    at InitializeImpl (/build/Release/_deps/dawn-src/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:253)\n';
    assert.equal(probeFailure(ORT_NO_ADAPTER, llvmpipe), 'no WebGPU adapter (Dawn: Vulkan shaderUniform*ArrayDynamicIndexing required.)');
    assert.equal(probeFailure(ORT_NO_ADAPTER, ''), 'no WebGPU adapter');
    assert.doesNotMatch(probeFailure(ORT_NO_ADAPTER, llvmpipe), /\n/);
  });

  test('other failures keep the message after the source location', () => {
    assert.equal(probeFailure('LAVIN_PROBE_FAIL something broke\n', ''), 'something broke');
    assert.equal(probeFailure('', 'Segfault-ish last line\n'), 'Segfault-ish last line');
  });

  test('the real probe answers undefined (usable) or one line', async () => {
    for (const device of ['webgpu', 'cuda'] as const) {
      const verdict = await defaultProbe(device, device);
      if (verdict !== undefined) assert.match(verdict, /^[^\n]+$/);
    }
  });
});

describe('node placement from the profile', () => {
  const node = (name: string, op: string, provider: string, out: Record<string, number[]>[]) => ({ cat: 'Node', name: `${name}_kernel_time`, args: { op_name: op, provider, output_type_shape: out } });

  test('CPU nodes are listed by op with the reason; shape arithmetic is told apart', () => {
    const events = [
      { cat: 'Session', name: 'model_loading_array' },
      node('mm', 'MatMulNBits', 'WebGpuExecutionProvider', [{ float: [1, 64] }]),
      node('shape', 'Shape', 'CPUExecutionProvider', [{ int64: [3] }]),
      node('gather', 'Gather', 'CPUExecutionProvider', [{ int64: [1] }]),
      node('rope', 'RotaryEmbedding', 'CPUExecutionProvider', [{ float: [1, 2, 64] }]),
      node('rope', 'RotaryEmbedding', 'CPUExecutionProvider', [{ float: [1, 2, 64] }]),
      { cat: 'Node', name: 'mm_fence_before', args: { op_name: 'MatMulNBits' } },
    ];
    const p = summarizePlacement(events);
    assert.deepEqual(p.byProvider, { WebGpuExecutionProvider: 1, CPUExecutionProvider: 3 });
    assert.deepEqual(p.onCpu.map((g) => [g.op, g.count]), [['Shape', 1], ['Gather', 1], ['RotaryEmbedding', 1]]);
    assert.match(p.onCpu[0].reason, /shape arithmetic/);
    assert.match(p.onCpu[2].reason, /no kernel/);
    assert.match(describePlacement('decoder', p), /^decoder: 1 on WebGpu, 3 on CPU; on the CPU: .*RotaryEmbedding x1 \(the GPU provider has no kernel/);
    assert.match(describePlacement('vision', summarizePlacement([node('a', 'Add', 'WebGpuExecutionProvider', [])])), /every node on the GPU provider \(1 on WebGpu\)/);
  });
});
