// Select Model's items for discovered models: what each shows, and usable models first.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modelPickItems } from '../../extension/commands/modelPicks';
import type { DiscoveredModel } from '../../server/protocol';

const model = (name: string, extra: Partial<DiscoveredModel>): DiscoveredModel => ({
  name, source: 'ollama', format: 'gguf', path: `/m/${name}`, sizeBytes: 4.7 * 2 ** 30, memory: { fits: 'yes', needBytes: 6 * 2 ** 30 }, ...extra,
});

test('usable models that fit first, then those that do not, then the unusable with their reason', () => {
  const items = modelPickItems([
    model('broken', { problem: 'model blob sha256-ab is missing' }),
    model('huge', { memory: { fits: 'no', needBytes: 80 * 2 ** 30 } }),
    model('llama3.1:8b', { architecture: 'llama', parameters: 8.03e9, quantization: 'Q4_K_M', visionTower: '/m/proj' }),
  ]);
  assert.deepEqual(items.map((i) => i.model.name), ['llama3.1:8b', 'huge', 'broken']);
  assert.equal(items[0].label, '$(database) llama3.1:8b');
  assert.equal(items[0].description, 'Ollama · llama · 8.0B · Q4_K_M · 4.7 GB · vision tower');
  assert.equal(items[0].detail, 'fits in memory (needs 6.0 GB) — /m/llama3.1:8b');
  assert.match(items[1].detail, /^too big for this machine \(needs 80\.0 GB\)/);
  assert.equal(items[2].label, '$(warning) broken');
  assert.equal(items[2].detail, 'cannot be used: model blob sha256-ab is missing');
});
