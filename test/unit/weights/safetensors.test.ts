// safetensors: the fixture CLIP file, dtype coverage, and header validation.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { SafetensorsFile } from '../../../server/engine/weights/safetensors';
import { openTensorFile } from '../../../server/engine/weights/tensorFile';
import { fixture, readGolden, scratchDir, writeFile } from './helpers/fixture';
import { buildSafetensors, type StEntry } from './helpers/safetensorsWriter';

const tmp = scratchDir('st');
after(tmp.cleanup);

test('fixture CLIP safetensors: header, metadata and a tensor read', async () => {
  const vit = readGolden().config.vit;
  const file = await openTensorFile(fixture('clip', 'model.safetensors'));
  try {
    assert.ok(file instanceof SafetensorsFile);
    assert.deepEqual({ ...file.metadata }, { format: 'pt' });
    assert.deepEqual(file.info('vision_model.embeddings.patch_embedding.weight'), { dtype: 'float32', shape: [vit.width, 3, vit.patch, vit.patch] });
    const grid = vit.resolution / vit.patch;
    assert.deepEqual(file.info('vision_model.embeddings.position_embedding.weight').shape, [grid * grid + 1, vit.width]);
    const layers = new Set(file.names().map((n) => /encoder\.layers\.(\d+)\./.exec(n)?.[1]).filter((x) => x !== undefined));
    assert.equal(layers.size, vit.layers);
    const t = await file.read('vision_model.embeddings.class_embedding');
    assert.equal(t.data.length, vit.width * 4);
  } finally {
    await file.close();
  }
});

const entry = (dtype: string, shape: number[], bytes: number): StEntry => ({ dtype, shape, data: Uint8Array.from({ length: bytes }, (_, i) => (i * 37 + 11) & 0xff) });

test('every supported dtype reads back byte-exact', async () => {
  const spec: Array<[string, string, number]> = [
    ['F32', 'float32', 4], ['F16', 'float16', 2], ['BF16', 'bfloat16', 2], ['F64', 'float64', 8], ['I64', 'int64', 8],
    ['I32', 'int32', 4], ['I16', 'int16', 2], ['I8', 'int8', 1], ['U8', 'uint8', 1], ['BOOL', 'bool', 1],
  ];
  const entries = spec.map(([st, , es]): [string, StEntry] => [`t_${st}`, entry(st, [2, 3], 6 * es)]);
  const p = writeFile(tmp.dir, 'dtypes/all.safetensors', buildSafetensors(entries));
  const file = await SafetensorsFile.open(p);
  try {
    for (const [i, [st, dtype]] of spec.entries()) {
      const t = await file.read(`t_${st}`);
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.shape, [2, 3]);
      assert.deepEqual([...t.data], [...entries[i][1].data]);
    }
  } finally {
    await file.close();
  }
});

test('unsupported dtypes are named when the tensor is used', async () => {
  const p = writeFile(tmp.dir, 'dtypes/fp8.safetensors', buildSafetensors([['ok', entry('F32', [1], 4)], ['scale', entry('F8_E4M3', [4], 4)]]));
  const file = await SafetensorsFile.open(p);
  try {
    assert.deepEqual(file.names(), ['ok', 'scale']);
    assert.throws(() => file.info('scale'), (e: unknown) => e instanceof CheckpointError && e.message === 'dtypes/fp8.safetensors: tensor scale: unsupported dtype F8_E4M3');
    await assert.rejects(file.read('scale'), /unsupported dtype F8_E4M3/);
  } finally {
    await file.close();
  }
});

test('header validation names what is wrong', async () => {
  const good: Array<[string, StEntry]> = [['a', entry('F32', [2, 2], 16)], ['b', entry('F16', [3], 6)]];
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['shape-mismatch', buildSafetensors(good, { header: (h) => ({ ...h, b: { dtype: 'F16', shape: [4], data_offsets: [16, 22] } }) }), /tensor b: F16 \[4\] needs 8 bytes, data_offsets span 6/],
    ['offsets-past-end', buildSafetensors(good, { header: (h) => ({ ...h, b: { dtype: 'F16', shape: [3], data_offsets: [100, 106] } }) }), /tensor b: file is truncated: data_offsets end 106/],
    ['reversed-offsets', buildSafetensors(good, { header: (h) => ({ ...h, a: { dtype: 'F32', shape: [2, 2], data_offsets: [16, 0] } }) }), /tensor a: data_offsets is not a \[begin, end\] pair/],
    ['bad-shape', buildSafetensors(good, { header: (h) => ({ ...h, a: { dtype: 'F32', shape: [-1, 4], data_offsets: [0, 16] } }) }), /tensor a: shape is not a list of non-negative integers/],
    ['bad-metadata', buildSafetensors(good, { metadata: { format: 'pt' }, header: (h) => ({ ...h, __metadata__: { n: 3 } }) }), /__metadata__\.n is not a string/],
    ['not-object', buildSafetensors(good, { header: () => [1, 2] }), /header is not a JSON object/],
  ];
  for (const [name, bytes, re] of cases) {
    const p = writeFile(tmp.dir, `bad/${name}.safetensors`, bytes);
    await assert.rejects(SafetensorsFile.open(p), (e: unknown) => e instanceof CheckpointError && e.message.startsWith(`bad/${name}.safetensors: `) && re.test(e.message), name);
  }
  // Header length beyond the file / absurd header length.
  const bytes = buildSafetensors(good);
  const short = writeFile(tmp.dir, 'bad/short-header.safetensors', bytes.subarray(0, 20));
  await assert.rejects(SafetensorsFile.open(short), /file is truncated: safetensors header needs/);
  const huge = Uint8Array.from(bytes);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  await assert.rejects(SafetensorsFile.open(writeFile(tmp.dir, 'bad/huge.safetensors', huge)), /header length 1099511627776 is not plausible/);
  const notJson = Uint8Array.from(bytes);
  notJson[9] = 0x3a;
  await assert.rejects(SafetensorsFile.open(writeFile(tmp.dir, 'bad/json.safetensors', notJson)), /header is not valid JSON/);
});
