// LaVIN adapter checkpoints: the fixture against golden.json, bare state dicts, args handling, hostile args.
import { test, after, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { numel, type HostTensor } from '../../../server/engine/tensor';
import { loadAdapter } from '../../../server/engine/weights/adapter';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { fixture, readGolden, scratchDir, writeFile } from './helpers/fixture';
import { Call, Float, Global, NewObj, type PyValue } from './helpers/pickleWriter';
import { buildPth, storage, view, type Storage } from './helpers/pthWriter';
import { buildSafetensors } from './helpers/safetensorsWriter';
import { readAllPth } from './helpers/tensors';

const tmp = scratchDir('adapter');
after(tmp.cleanup);
let model: Array<[string, HostTensor]>;
before(async () => {
  model = (await readAllPth(fixture('adapter', 'checkpoint.pth'))).map(([n, t]) => [n.replace(/^model\./, ''), t]);
});

/** {'model': {...}, extras..., 'args': Namespace(**args)} (args omitted when null). */
function checkpoint(args: Map<string, PyValue> | null, extras: Array<[string, PyValue]> = [], bare = false): Uint8Array {
  const storages: Storage[] = [];
  const dict = new Map<PyValue, PyValue>();
  for (const [name, t] of model) {
    const st = storage(String(storages.length), t.dtype, t.data);
    storages.push(st);
    dict.set(name, view(st, t.shape));
  }
  if (bare) return buildPth(dict, storages);
  const top = new Map<PyValue, PyValue>([['model', dict], ...extras]);
  if (args) top.set('args', new NewObj(new Global('argparse', 'Namespace'), [], args));
  return buildPth(top, storages);
}

test('fixture checkpoint: args, key order and shapes match golden.json', async () => {
  const g = readGolden();
  const a = await loadAdapter(fixture('adapter', 'checkpoint.pth'));
  assert.equal(a.args.temperature, g.config.temperature);
  assert.equal(a.args.adapterDim, g.config.adapter_dim);
  assert.equal(a.args.hiddenProj, g.config.hidden_proj);
  assert.equal(a.args.adapterScale, g.config.adapter_scale);
  assert.equal(a.args.maxSeqLen, g.config.max_seq_len);
  assert.equal(a.args.nPrompt, g.config.n_feats);
  assert.equal(a.args.raw.adapter_type, 'attn');
  assert.equal(a.args.raw.visual_adapter_type, 'router');
  assert.equal(a.epoch, 19);
  assert.deepEqual(a.keys, g.trainable_keys.map((k) => k.replace(/^module\./, '')));
  let params = 0;
  for (const key of g.trainable_keys) {
    const t = a.tensors.get(key.replace(/^module\./, ''))!;
    assert.equal(t.dtype, 'float32', key);
    assert.deepEqual(t.shape, g.tensors[`image.grad.${key}`].shape, key);
    params += numel(t.shape);
  }
  assert.equal(params, g.n_trainable_params);
  assert.deepEqual(a.notes, []);
});

test('bare state dict: temperature defaults to 10 with a note, adapter width from conv_A', async () => {
  const p = writeFile(tmp.dir, 'bare/adapter.pth', checkpoint(null, [], true));
  const a = await loadAdapter(p);
  assert.equal(a.args.temperature, 10);
  assert.equal(a.args.adapterDim, readGolden().config.adapter_dim);
  assert.equal(a.args.hiddenProj, readGolden().config.hidden_proj);
  assert.match(a.notes.join('\n'), /args\.temperature absent: using 10/);
  assert.equal(a.keys.length, readGolden().trainable_keys.length);
});

test('13B-style args (temperature 5.0) with optimizer and scaler entries, which are ignored', async () => {
  const args = new Map<string, PyValue>([['temperature', new Float(5)], ['adapter_dim', 8], ['adapter_scale', new Float(1)], ['hidden_proj', 16]]);
  const optimizer = new Map<PyValue, PyValue>([['state', new Map()], ['param_groups', [new Map<PyValue, PyValue>([['lr', 0.001], ['betas', new Call(new Global('builtins', 'set'), [[1]])]])]]]);
  const p = writeFile(tmp.dir, 'full/checkpoint.pth', checkpoint(args, [['optimizer', optimizer], ['scaler', new Map<PyValue, PyValue>([['scale', 65536.0]])], ['epoch', 39]]));
  const a = await loadAdapter(p);
  assert.equal(a.args.temperature, 5);
  assert.equal(a.epoch, 39);
  assert.match(a.notes.join('\n'), /ignored entries: optimizer, scaler/);
  assert.equal(a.args.maxSeqLen, undefined);
});

test('bad args are named', async () => {
  const cases: Array<[string, Map<string, PyValue>, RegExp]> = [
    ['temp-string', new Map<string, PyValue>([['temperature', 'hot']]), /args\.temperature must be a positive number, found "hot"/],
    ['temp-zero', new Map<string, PyValue>([['temperature', 0]]), /args\.temperature must be a positive number/],
    ['dim-mismatch', new Map<string, PyValue>([['adapter_dim', 16]]), /tensor layers\.0\.adapter_attn\.conv_A\.weight: args\.adapter_dim 16 disagrees with conv_A's 8 rows/],
  ];
  for (const [name, args, re] of cases) {
    const p = writeFile(tmp.dir, `bad-${name}/checkpoint.pth`, checkpoint(args));
    await assert.rejects(loadAdapter(p), (e: unknown) => e instanceof CheckpointError && e.message.startsWith(`bad-${name}/checkpoint.pth: `) && re.test(e.message), name);
  }
});

test('a hostile global hidden in args is refused before anything is built', async () => {
  const args = new Map<string, PyValue>([['temperature', new Call(new Global('os', 'system'), ['touch /tmp/lavin-pwned'])]]);
  const p = writeFile(tmp.dir, 'hostile/checkpoint.pth', checkpoint(args));
  await assert.rejects(loadAdapter(p), (e: unknown) =>
    e instanceof CheckpointError && e.file === p && /^hostile\/checkpoint\.pth: archive\/data\.pkl: forbidden pickle global os\.system/.test(e.message));
});

test('safetensors adapters: tensors by name, args from __metadata__', async () => {
  const entries = model.map(([n, t]): [string, { dtype: string; shape: number[]; data: Uint8Array }] => [n, { dtype: 'F32', shape: t.shape, data: t.data }]);
  const p = writeFile(tmp.dir, 'st/adapter.safetensors', buildSafetensors(entries, { metadata: { args: JSON.stringify({ temperature: 5, adapter_dim: 8, max_seq_len: 256 }) } }));
  const a = await loadAdapter(p);
  assert.equal(a.args.temperature, 5);
  assert.equal(a.args.maxSeqLen, 256);
  assert.deepEqual(a.keys, model.map(([n]) => n.replace(/^module\./, '')));
});
