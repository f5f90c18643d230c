// Model discovery on synthetic Ollama / LM Studio / Hugging Face cache trees built at test time,
// working and broken: every model that cannot be used gets its one-line reason, nothing throws.

import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { discoverModels, DiscoveryOptions } from '../../server/host/models';
import { decoderParameters, memoryFit, weightFormatOf } from '../../server/host/models/memoryFit';
import { hfCacheRoots, lmStudioRoots, ollamaRoots } from '../../server/host/models/roots';
import { ScanBudget } from '../../server/host/models/walk';
import type { DiscoveredModel, ListModelsResult } from '../../server/protocol';
import { writeLlamaGguf } from '../../bench/gguf';
import { openBackbone } from '../../server/engine/weights/backbone';
import { readGgufFacts } from '../../server/host/models/ggufFacts';
import { fixtureModelDir } from '../golden/fixture';
import { buildSafetensors } from './weights/helpers/safetensorsWriter';
import { ggufWithArchitecture, ggufWithIq4nlTensor, HF_CONFIG, hfLlamaShapes, qwen2Gguf, hfRepo, OllamaStore, safetensors, tempDir, TINY, TINY_PARAMETERS, tinyGguf, truncated, write } from '../helpers/modelStores';

const GiB = 2 ** 30;
const BIG_MACHINE = { total: 64 * GiB, available: 32 * GiB };
const NO_STORES = { ollama: [], lmStudio: [], huggingFace: [] };
const zeros = (_name: string, shape: number[]) => new Float32Array(shape.reduce((a, b) => a * b, 1));

function byName(r: ListModelsResult, name: string): DiscoveredModel {
  const m = r.models.find((x) => x.name === name);
  assert.ok(m, `${name} is listed (listed: ${r.models.map((x) => x.name).join(', ')})`);
  return m;
}

/** A problem is one line that names what is wrong. */
function assertProblem(m: DiscoveredModel, pattern: RegExp): void {
  assert.ok(m.problem, `${m.name} has a problem`);
  assert.match(m.problem, pattern);
  assert.ok(!m.problem.includes('\n'), `one line: ${m.problem}`);
}

const run = (o: DiscoveryOptions) => discoverModels({ machine: BIG_MACHINE, ...NO_STORES, ...o });

describe('Ollama store', () => {
  let root: string;
  let files: { model: string; projector?: string };
  let result: ListModelsResult;
  before(async () => {
    root = tempDir('lavin-ollama-');
    const store = new OllamaStore(root);
    files = store.model('tiny:latest', tinyGguf(), { projector: Buffer.from('mmproj stand-in'), template: '{{ .Prompt }}' });
    store.model('bartowski/tiny-gguf:Q8_0', tinyGguf());
    // Blobs are content-addressed: a different file, so that removing it leaves tiny's blob alone.
    const gone = store.model('gone:7b', Buffer.concat([tinyGguf(), Buffer.from('other bytes')]));
    fs.rmSync(gone.model);
    store.model('short:latest', truncated(tinyGguf()));
    store.model('alien:latest', ggufWithArchitecture('gemma3'));
    const partial = store.model('partial:latest', Buffer.from('x'));
    fs.appendFileSync(partial.model, 'more bytes than the manifest says');
    write(path.join(root, 'manifests', 'registry.ollama.ai', 'library', 'broken', 'latest'), '{"schemaVersion": 2, "layers": [');
    store.manifest('cloud:latest', []);
    result = await run({ ollama: [root] });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('a model: its GGUF blob, architecture, exact parameters, quantisation, size with the projector, template, memory', () => {
    const m = byName(result, 'tiny:latest');
    assert.equal(m.problem, undefined);
    assert.equal(m.source, 'ollama');
    assert.equal(m.format, 'gguf');
    assert.equal(m.path, files.model);
    assert.equal(m.architecture, 'llama');
    assert.equal(m.parameters, TINY_PARAMETERS);
    assert.equal(m.quantization, 'Q8_0');
    assert.equal(m.contextLength, 256);
    assert.equal(m.visionTower, files.projector);
    assert.equal(m.sizeBytes, tinyGguf().length + 'mmproj stand-in'.length);
    assert.equal(m.storeTemplate, '{{ .Prompt }}');
    assert.equal(m.memory.fits, 'yes');
    assert.ok(m.memory.needBytes! > 0);
  });

  test('names: the library without a prefix, other namespaces with theirs', () => {
    assert.equal(byName(result, 'bartowski/tiny-gguf:Q8_0').problem, undefined);
  });

  test('missing blob, truncated GGUF, unknown architecture, size mismatch, broken manifest JSON, no model layer: one line each', () => {
    assertProblem(byName(result, 'gone:7b'), /model blob sha256-[0-9a-f]{64} is missing from .*blobs/);
    assertProblem(byName(result, 'short:latest'), /truncated/);
    const alien = byName(result, 'alien:latest');
    assertProblem(alien, /unsupported architecture gemma3 \(this engine runs llama and qwen2\)/);
    assert.equal(alien.architecture, 'gemma3', 'the architecture is still shown');
    assertProblem(byName(result, 'partial:latest'), /is \d+ bytes but the manifest says 1 \(incomplete or damaged\)/);
    assertProblem(byName(result, 'broken:latest'), /manifest .*broken.latest is not valid JSON/);
    assertProblem(byName(result, 'cloud:latest'), /has no model layer/);
    assert.equal(result.models.length, 8);
  });

  test('a folder that is not a store is reported, not thrown', async () => {
    const r = await run({ ollama: [path.join(root, 'blobs')] });
    assert.equal(r.models.length, 0);
    assert.match(r.searched[0].note ?? '', /no manifests folder \(not an Ollama store\)/);
  });
});

describe('LM Studio models folder', () => {
  let root: string;
  let result: ListModelsResult;
  before(async () => {
    root = tempDir('lavin-lmstudio-');
    write(path.join(root, 'lmstudio-community', 'Tiny-GGUF', 'Tiny-Q8_0.gguf'), tinyGguf());
    write(path.join(root, 'lmstudio-community', 'Tiny-GGUF', 'mmproj-Tiny-F16.gguf'), tinyGguf());
    write(path.join(root, 'someone', 'Big-GGUF', 'Big-00001-of-00002.gguf'), tinyGguf());
    write(path.join(root, 'someone', 'Cut-GGUF', 'Cut.gguf'), truncated(tinyGguf()));
    write(path.join(root, 'someone', 'Alien-GGUF', 'Alien.gguf'), ggufWithArchitecture('phi3'));
    write(path.join(root, 'someone', 'Odd-GGUF', 'Odd-IQ4_NL.gguf'), ggufWithIq4nlTensor());
    write(path.join(root, 'Qwen', 'Tiny-Qwen2-GGUF', 'tiny-qwen2-q8_0.gguf'), qwen2Gguf().bytes);
    write(path.join(root, 'someone', 'Notes', 'README.md'), 'not a model');
    // An MLX (Transformers-style) folder: 4-bit weights packed into U32, which this build cannot read.
    write(path.join(root, 'mlx-community', 'Tiny-4bit', 'config.json'), JSON.stringify({ ...HF_CONFIG, quantization: { group_size: 64, bits: 4 } }));
    write(path.join(root, 'mlx-community', 'Tiny-4bit', 'model.safetensors'), buildSafetensors([['w', { dtype: 'U32', shape: [2], data: new Uint8Array(8) }]]));
    // Deeper than publisher/repo: not LM Studio's layout, not looked at.
    write(path.join(root, 'a', 'b', 'c', 'Deep.gguf'), tinyGguf());
    result = await run({ lmStudio: [root] });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('a model with its mmproj as the vision tower (the mmproj is not listed as a model)', () => {
    const m = byName(result, 'lmstudio-community/Tiny-GGUF/Tiny-Q8_0.gguf');
    assert.equal(m.problem, undefined);
    assert.equal(m.architecture, 'llama');
    assert.equal(m.quantization, 'Q8_0');
    assert.equal(m.visionTower, path.join(root, 'lmstudio-community', 'Tiny-GGUF', 'mmproj-Tiny-F16.gguf'));
    assert.equal(m.sizeBytes, 2 * tinyGguf().length);
    assert.ok(!result.models.some((x) => /mmproj/.test(x.name)));
  });

  test('a qwen2 model (biases, grouped-query attention, tied embeddings): parameters from the file equal the shape\'s count', () => {
    const m = byName(result, 'Qwen/Tiny-Qwen2-GGUF/tiny-qwen2-q8_0.gguf');
    assert.equal(m.problem, undefined, m.problem);
    assert.equal(m.architecture, 'qwen2');
    assert.equal(m.parameters, qwen2Gguf().parameters);
    assert.equal(decoderParameters({ ...TINY, headDim: TINY.dim / TINY.nHeads, nKvHeads: 2, qkvBias: true, tiedEmbeddings: true }), qwen2Gguf().parameters);
  });

  test('missing shard of a split GGUF, truncated GGUF, unknown architecture, unsupported tensor type; nothing deeper than publisher/repo', () => {
    assertProblem(byName(result, 'someone/Big-GGUF/Big-00001-of-00002.gguf'), /missing shard Big-00002-of-00002\.gguf of the split GGUF Big \(2 parts\)/);
    assertProblem(byName(result, 'someone/Cut-GGUF/Cut.gguf'), /Cut\.gguf.*truncated/);
    assertProblem(byName(result, 'someone/Alien-GGUF/Alien.gguf'), /unsupported architecture phi3/);
    assertProblem(byName(result, 'mlx-community/Tiny-4bit'), /unsupported dtype U32/);
    assertProblem(byName(result, 'someone/Odd-GGUF/Odd-IQ4_NL.gguf'), /tensor blk\.0\.attn_q\.weight: type IQ4_NL is not supported \(supported: F32, F16, BF16, Q8_0/);
    assert.equal(result.models.length, 7, result.models.map((m) => m.name).join(', '));
  });

  test('an unreadable folder is a note on the search, the rest is still listed', (t) => {
    const modules = path.join(__dirname, '..', '..', 'server', 'host', 'models');
    // Root reads every folder: then the scan runs in a child process as nobody (uid 65534).
    const asRoot = process.getuid?.() === 0;
    const as = asRoot ? { uid: 65534, gid: 65534 } : {};
    if (asRoot && spawnSync(process.execPath, ['-e', `require(${JSON.stringify(modules)})`], as).status !== 0) {
      t.skip('running as root, and user nobody cannot read this checkout to scan as someone who lacks permissions');
      return;
    }
    const locked = path.join(root, 'locked');
    fs.mkdirSync(locked);
    fs.chmodSync(locked, 0);
    try {
      if (asRoot) fs.chmodSync(root, 0o755);
      const script = `require(${JSON.stringify(modules)})
        .discoverModels({ lmStudio: [${JSON.stringify(root)}], ollama: [], huggingFace: [] }).then((r) => process.stdout.write(JSON.stringify(r)));`;
      const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', ...as });
      assert.equal(child.status, 0, child.stderr);
      const r = JSON.parse(child.stdout) as ListModelsResult;
      assert.match(r.searched[0].note ?? '', /locked cannot be read \(permission denied\)/);
      assert.equal(r.models.length, 7);
    } finally {
      fs.chmodSync(locked, 0o755);
    }
  });

  test('a huge tree: the walk stops at its entry budget, says so, and returns', async () => {
    const wide = tempDir('lavin-wide-');
    try {
      for (let i = 0; i < 200; i++) fs.mkdirSync(path.join(wide, `publisher-${i}`));
      const r = await run({ lmStudio: [wide], budget: new ScanBudget(50) });
      assert.match(r.searched[0].note ?? '', /stopped after 50 folder entries/);
      const late = await run({ lmStudio: [wide], budget: new ScanBudget(1e6, 0) });
      assert.match(late.searched[0].note ?? '', /stopped after 0 s/);
    } finally {
      fs.rmSync(wide, { recursive: true, force: true });
    }
  });
});

describe('Hugging Face hub cache', () => {
  let cache: string;
  let result: ListModelsResult;
  const weights = hfLlamaShapes();
  const weightCount = Object.values(weights).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  before(async () => {
    cache = tempDir('lavin-hf-');
    hfRepo(cache, 'org/tiny-llama', { 'config.json': JSON.stringify(HF_CONFIG), 'model.safetensors': safetensors(weights) });
    const index = { metadata: {}, weight_map: Object.fromEntries(Object.keys(weights).map((n, i) => [n, `model-0000${i % 2 + 1}-of-00002.safetensors`])) };
    hfRepo(cache, 'org/sharded', { 'config.json': JSON.stringify(HF_CONFIG), 'model.safetensors.index.json': JSON.stringify(index), 'model-00001-of-00002.safetensors': safetensors({ a: [4] }) }, { missing: ['model-00002-of-00002.safetensors'] });
    const { ['model.layers.1.mlp.up_proj.weight']: _dropped, ...incomplete } = weights;
    hfRepo(cache, 'org/incomplete', { 'config.json': JSON.stringify(HF_CONFIG), 'model.safetensors': safetensors(incomplete) });
    hfRepo(cache, 'org/wide', { 'config.json': JSON.stringify({ ...HF_CONFIG, intermediate_size: 256 }), 'model.safetensors': safetensors(weights) });
    hfRepo(cache, 'org/bert', { 'config.json': JSON.stringify({ ...HF_CONFIG, model_type: 'bert', architectures: ['BertModel'] }), 'model.safetensors': safetensors({ w: [2, 2] }) });
    hfRepo(cache, 'org/badjson', { 'config.json': '{"model_type": "llama",', 'model.safetensors': safetensors({ w: [2] }) });
    hfRepo(cache, 'org/Tiny-GGUF', { 'tiny-q8_0.gguf': tinyGguf() });
    hfRepo(cache, 'org/pinned', { 'config.json': JSON.stringify(HF_CONFIG), 'model.safetensors': safetensors(weights) }, { ref: false });
    fs.mkdirSync(path.join(cache, 'models--org--unfinished', 'blobs'), { recursive: true });
    fs.mkdirSync(path.join(cache, 'datasets--org--data'), { recursive: true });
    result = await run({ huggingFace: [cache] });
  });
  after(() => fs.rmSync(cache, { recursive: true, force: true }));

  test('a Transformers folder: model_type, dtype, exact parameters from the safetensors headers, memory at bf16', () => {
    const m = byName(result, 'org/tiny-llama');
    assert.equal(m.problem, undefined);
    assert.equal(m.format, 'hf');
    assert.match(m.path, /models--org--tiny-llama.snapshots.[0-9a-f]{40}$/);
    assert.equal(m.architecture, 'llama');
    assert.equal(m.quantization, 'BF16');
    assert.equal(m.parameters, weightCount);
    assert.equal(m.parameters, decoderParameters({ ...TINY, headDim: 16, nKvHeads: 2, tiedEmbeddings: true }));
    assert.equal(m.contextLength, 2048);
    assert.equal(m.memory.fits, 'yes');
    assert.match(m.memory.message ?? '', /at fp16/);
    assert.equal(byName(result, 'org/pinned').problem, undefined, 'a snapshot without refs/main is still found');
  });

  test('a GGUF repository: each file a model', () => {
    const m = byName(result, 'org/Tiny-GGUF/tiny-q8_0.gguf');
    assert.equal(m.problem, undefined);
    assert.equal(m.format, 'gguf');
    assert.equal(m.parameters, TINY_PARAMETERS);
  });

  test('missing shard, unsupported architecture, broken config.json, unfinished download: one line each; datasets skipped', () => {
    assertProblem(byName(result, 'org/sharded'), /missing shard model-00002-of-00002\.safetensors in .* \(named by model\.safetensors\.index\.json\)/);
    assertProblem(byName(result, 'org/bert'), /config\.json: unknown architecture BertModel \(supported: LlamaForCausalLM/);
    assert.equal(byName(result, 'org/bert').architecture, 'bert', 'the architecture is still shown');
    assertProblem(byName(result, 'org/badjson'), /config\.json is not valid JSON/);
    assertProblem(byName(result, 'org/unfinished'), /has no snapshot \(the download never finished\)/);
    assertProblem(byName(result, 'org/incomplete'), /the model's tensor layers\.1\.feed_forward\.w3\.weight is in none of its safetensors files/);
    assertProblem(byName(result, 'org/wide'), /model\.safetensors: layers\.0\.feed_forward\.w1\.weight is \[128,64\], config\.json says \[256,64\]/);
    assert.equal(result.models.length, 9);
  });
});

describe('picked paths', () => {
  let dir: string;
  before(() => {
    dir = tempDir('lavin-picked-');
    write(path.join(dir, 'one.gguf'), tinyGguf());
    write(path.join(dir, 'mmproj-one.gguf'), tinyGguf());
    write(path.join(dir, 'notes.txt'), 'hello');
    write(path.join(dir, 'empty', '.keep'), '');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a GGUF file (with the mmproj beside it), a folder of GGUF files, a LaVIN model folder', async () => {
    const r = await run({ paths: [path.join(dir, 'one.gguf')] });
    assert.equal(r.models.length, 1);
    assert.equal(r.models[0].problem, undefined);
    assert.equal(r.models[0].visionTower, path.join(dir, 'mmproj-one.gguf'));
    const folder = await run({ paths: [dir] });
    assert.deepEqual(folder.models.map((m) => m.name), [`${path.basename(dir)}/one.gguf`]);
    const lavin = await run({ paths: [fixtureModelDir('openai')] });
    assert.equal(lavin.models[0].format, 'lavin');
    assert.equal(lavin.models[0].problem, undefined, lavin.models[0].problem);
    assert.ok(lavin.models[0].parameters! > 0 && lavin.models[0].sizeBytes > 0);
    assert.equal(lavin.models[0].memory.fits, 'yes');
  });

  test('not a GGUF file, a missing path, a folder with nothing to load: one line each', async () => {
    const r = await run({ paths: [path.join(dir, 'notes.txt'), path.join(dir, 'nope.gguf'), path.join(dir, 'empty')] });
    assertProblem(r.models[0], /notes\.txt is not a GGUF file/);
    assertProblem(r.models[1], /nope\.gguf does not exist/);
    assertProblem(r.models[2], /empty has no GGUF files/);
  });
});

describe('default roots', () => {
  test('each tool\'s own order: environment first, then the home folder', () => {
    assert.deepEqual(ollamaRoots({ OLLAMA_MODELS: '/m' }, '/h'), ['/m']);
    assert.deepEqual(ollamaRoots({}, '/h'), ['/h/.ollama/models', '/usr/share/ollama/.ollama/models']);
    assert.deepEqual(hfCacheRoots({ HF_HUB_CACHE: '/c', HF_HOME: '/x' }, '/h'), ['/c']);
    assert.deepEqual(hfCacheRoots({ HF_HOME: '/x' }, '/h'), ['/x/hub']);
    assert.deepEqual(hfCacheRoots({}, '/h'), ['/h/.cache/huggingface/hub']);
    assert.deepEqual(lmStudioRoots({ LAVIN_LMSTUDIO_MODELS: '/l' }, '/h'), ['/l']);
  });

  test('LM Studio\'s own downloadsFolder setting comes first', () => {
    const home = tempDir('lavin-home-');
    try {
      write(path.join(home, '.lmstudio', 'settings.json'), JSON.stringify({ downloadsFolder: '/big/disk/models' }));
      assert.deepEqual(lmStudioRoots({}, home), ['/big/disk/models', path.join(home, '.lmstudio', 'models'), path.join(home, '.cache', 'lm-studio', 'models')]);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('a GGUF file\'s weights in memory', () => {
  test('counted from the tensor infos exactly as openBackbone holds them (Q4_K/Q6_K mix, Q8_0, tied Q4_0 head)', async () => {
    const dir = tempDir('lavin-held-');
    try {
      const cases: [string, Parameters<typeof writeLlamaGguf>[1]][] = [
        ['mix', { name: 'mix', ...TINY, dim: 256, ffnHidden: 512, normEps: 1e-5, contextLength: 64, type: 'q4_k', typeOf: (n) => (/attn_v|ffn_down/.test(n) ? 'q6_k' : undefined), values: zeros }],
        ['q8', { name: 'q8', ...TINY, normEps: 1e-5, contextLength: 64, type: 'q8_0', values: zeros }],
        ['tied', { name: 'tied', ...TINY, tiedEmbeddings: true, normEps: 1e-5, contextLength: 64, type: 'q4_0', values: zeros }],
      ];
      for (const [name, spec] of cases) {
        const file = path.join(dir, `${name}.gguf`);
        writeLlamaGguf(file, spec);
        const facts = await readGgufFacts(file);
        const opened = await openBackbone(file);
        let held = 0;
        for (const t of opened.tensors.values()) held += t.data.byteLength;
        for (const q of opened.quantized.values()) held += q.packed.data.byteLength + q.scales.data.byteLength + q.zeroPoints.data.byteLength + (q.offsets?.data.byteLength ?? 0);
        opened.close();
        assert.equal(facts.weightBytes, held, name);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('memory fit', () => {
  const shape = { dim: 4096, nLayers: 32, nHeads: 32, headDim: 128, nKvHeads: 8, ffnHidden: 14336, vocab: 128256 };

  test('Llama-3-8B\'s parameter count from its shape (8.03B)', () => {
    assert.equal(decoderParameters(shape), 8_030_261_248);
    assert.equal(decoderParameters({ ...TINY, headDim: TINY.dim / TINY.nHeads }), TINY_PARAMETERS);
  });

  test('quantisation names to the engine\'s weight formats', () => {
    assert.equal(weightFormatOf('Q4_K_M'), 'int4');
    assert.equal(weightFormatOf('Q4_0'), 'int4');
    assert.equal(weightFormatOf('Q5_K_M'), 'int8');
    assert.equal(weightFormatOf('Q8_0'), 'int8');
    assert.equal(weightFormatOf('BF16'), 'fp16');
    assert.equal(weightFormatOf('F32'), 'fp32');
    assert.equal(weightFormatOf(undefined), undefined);
  });

  test('fits, tight (not in the memory free now), too big; grouped-query attention shrinks the KV cache', () => {
    const fit = (total: number, available: number) => memoryFit(shape, 'int4', 4096, { machine: { total: total * GiB, available: available * GiB } });
    assert.equal(fit(64, 32).fits, 'yes');
    assert.equal(fit(64, 2).fits, 'tight');
    assert.match(fit(64, 2).message!, /GB is free now/);
    assert.equal(fit(4, 4).fits, 'no');
    assert.match(fit(4, 4).message!, /needs at least \d+\.\d GB \(at int4, 4096 tokens of context\); this machine has 4\.0 GB/);
    const mha = memoryFit({ ...shape, nKvHeads: 32 }, 'int4', 4096, { machine: { total: 64 * GiB, available: 64 * GiB } });
    // 2 (k, v) x 32 layers x 4096 tokens x (32 - 8) heads x 128 x 4 bytes more without GQA.
    // A GGUF backbone, text only: the weights as counted from the file, and the KV cache.
    const gguf = memoryFit(shape, 'int4', 4096, { machine: BIG_MACHINE, visionBytes: 0, weightBytes: 5 * GiB });
    assert.equal(gguf.needBytes, 5 * GiB + 2 * 32 * 4096 * 1024 * 4);
    assert.match(gguf.message!, /^needs at least 6\.0 GB \(at int4, 4096 tokens of context, text only\)$/);
    const extra = 2 * 32 * 4096 * 24 * 128 * 4 + 2 * 32 * 4096 * 24 * 128 * (0.5 + 4.5 / 128);
    assert.ok(Math.abs(mha.needBytes! - fit(64, 32).needBytes! - extra) < 1, `${mha.needBytes! - fit(64, 32).needBytes!} vs ${extra}`);
  });
});
