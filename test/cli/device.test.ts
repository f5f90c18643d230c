// `lavin ask --device`: an unusable GPU provider is one clear line and a non-zero exit; `auto` says
// which provider ran (done.device) and why the GPU ones were passed over (done.deviceNote, --verbose).

import * as assert from 'assert/strict';
import { describe, it } from 'node:test';
import { defaultProbe } from '../../server/engine/device';
import { lavin } from './runLavin';

describe('lavin ask --device', () => {
  it('--device webgpu: runs there when Dawn finds an adapter, else fails with one line naming the reason', async () => {
    const problem = await defaultProbe('webgpu', 'webgpu');
    const human = await lavin(['ask', '--device', 'webgpu', '--max-new-tokens', '2', 'hi']);
    const json = await lavin(['ask', '--json', '--device', 'webgpu', '--max-new-tokens', '2', 'hi']);
    if (problem === undefined) {
      assert.equal(json.code, 0, json.stderr);
      assert.equal(json.events.at(-1)!.device, 'webgpu');
      return;
    }
    assert.notEqual(human.code, 0);
    assert.equal(human.stdout, '');
    const lines = human.stderr.split('\n').filter((l) => l.startsWith('lavin: '));
    assert.equal(lines.length, 1, human.stderr);
    assert.match(lines[0], /^lavin: error: device webgpu is not usable: no WebGPU adapter|^lavin: error: device webgpu is not usable: \S/);
    assert.ok(lines[0].includes(problem), `${lines[0]} names the probe's reason: ${problem}`);
    assert.doesNotMatch(human.stderr, /Warning: |BackendVk|webgpu_context\.cc/, "Dawn's and onnxruntime's native output stays in the probe process");
    assert.notEqual(json.code, 0);
    assert.deepEqual(json.events.map((e) => e.event), ['error']);
    assert.match(String(json.events[0].message), /^device webgpu is not usable: /);
  });

  it('--device auto (the default) says which provider ran, and why not the GPU ones', async () => {
    const r = await lavin(['ask', '--json', '--max-new-tokens', '2', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    const done = r.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.match(String(done.device), /^(cpu|cuda|webgpu)$/);
    if (done.device === 'cpu') {
      assert.match(String(done.deviceNote), /^cpu \(cuda: .+; webgpu: .+\)$/, 'a CPU fallback names both reasons');
      const verbose = await lavin(['ask', '--verbose', '--max-new-tokens', '2', 'hi']);
      assert.equal(verbose.code, 0, verbose.stderr);
      assert.match(verbose.stderr, /device auto: skipping cuda \(.+\)/);
      assert.match(verbose.stderr, /device auto: skipping webgpu \(.+\)/);
      assert.match(verbose.stderr, /tokens\/s on cpu;/);
    }
  });

  it('--device cpu probes nothing and runs on the cpu', async () => {
    const r = await lavin(['ask', '--json', '--device', 'cpu', '--max-new-tokens', '1', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.events.at(-1)!.device, 'cpu');
    assert.equal(r.events.at(-1)!.deviceNote, 'cpu');
  });
});
