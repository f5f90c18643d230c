// Select Adapter Set's items: the kind of each set (vision or docs), its steps and loss, the model it was trained on.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adapterSetPickItems } from '../../extension/commands/adapterSetPicks';

test('each set says what it was trained on, how far and on which model; the active one is checked', () => {
  const items = adapterSetPickItems([
    { name: 'shapes', path: '/sets/shapes', steps: 600, updated: '2026-12-05T02:00:00Z', kind: 'vision', loss: 0.4591, baseModel: '/models/tiny-q4_0.gguf' },
    { name: 'docs', path: '/sets/docs', steps: 100, updated: '2026-12-04T10:00:00Z', kind: 'docs' },
    { name: 'old', path: '/sets/old', steps: 3, updated: '2026-01-01T00:00:00Z' },
  ], 'docs', (iso) => iso.slice(0, 10));
  assert.deepEqual(items.map((i) => i.name), [null, 'shapes', 'docs', 'old']);
  assert.equal(items[0].label, "Model's own adapters");
  assert.equal(items[1].label, '$(eye) shapes');
  assert.equal(items[1].description, 'vision (images) · 600 steps · loss 0.459 · 2026-12-05');
  assert.equal(items[1].detail, 'trained on tiny-q4_0.gguf — /sets/shapes');
  assert.equal(items[2].label, '$(check) $(book) docs');
  assert.equal(items[2].description, 'project docs · 100 steps · 2026-12-04');
  assert.equal(items[3].label, 'old');
  assert.equal(items[3].description, '3 steps · 2026-01-01');
  assert.equal(items[3].detail, '/sets/old');
  assert.equal(adapterSetPickItems([], null)[0].label, "$(check) Model's own adapters");
});
