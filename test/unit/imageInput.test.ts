// Images reaching the host: base64 from the protocol or bytes from the same process (the CLI) are
// checked alike and give the same bytes; the newest user image wins.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickImage } from '../../server/host/imageInput';

const bytes = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

test('bytes and base64 give the same image, with the same checks', () => {
  const fromBytes = pickImage([{ role: 'user', content: 'q', images: [bytes] }], 100);
  const fromBase64 = pickImage([{ role: 'user', content: 'q', images: [Buffer.from(bytes).toString('base64')] }], 100);
  assert.deepEqual([...fromBytes.image!], [...bytes]);
  assert.deepEqual([...fromBase64.image!], [...bytes]);
  assert.strictEqual(fromBytes.image, bytes, 'bytes are passed on, not copied or re-encoded');
  assert.throws(() => pickImage([{ role: 'user', content: 'q', images: [bytes] }], 4), /messages\[0\]\.images\[0\] is too large/);
  assert.throws(() => pickImage([{ role: 'user', content: 'q', images: [new Uint8Array(0)] }], 100), /messages\[0\]\.images\[0\] is empty/);
});

test('the newest user image wins, with a notice', () => {
  const older = Uint8Array.from([1]);
  const p = pickImage([{ role: 'user', content: 'a', images: [older] }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c', images: [bytes] }], 100);
  assert.strictEqual(p.image, bytes);
  assert.match(p.notices.join(), /newest one was used, 1 other/);
});
