// The read text as prompt context: whole when it fits, cut at a line with a visible mark and a notice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutMark, IMAGE_TEXT_MAX_TOKENS, imageTextContext } from '../../server/host/imageText';
import type { ImageTextLine } from '../../server/protocol';

const line = (text: string, y: number): ImageTextLine => ({ text, box: [0, y, 100, y + 10], confidence: 0.9 });
/** one token per character: easy to reason about */
const chars = (s: string) => s.length;

test('all lines go in, in order, when they fit', () => {
  const r = imageTextContext([line('Sign in failed', 0), line('Try again.', 20)], chars, 1000);
  assert.deepEqual(r, { text: 'Sign in failed\nTry again.', linesUsed: 2, notices: [] });
  assert.deepEqual(imageTextContext([], chars, 1000), { text: '', linesUsed: 0, notices: [] });
});

test('too much text is cut after whole lines, with a mark in the text and a notice', () => {
  const lines = Array.from({ length: 400 }, (_, i) => line(`line number ${i} of the log`, i * 12));
  const r = imageTextContext(lines, chars, 100_000);
  assert.ok(r.linesUsed > 0 && r.linesUsed < 400);
  assert.ok(r.text.length <= IMAGE_TEXT_MAX_TOKENS);
  assert.ok(r.text.endsWith(cutMark(400 - r.linesUsed)));
  assert.equal(r.text.split('\n').length, r.linesUsed + 1);
  assert.equal(r.text.split('\n')[r.linesUsed - 1], `line number ${r.linesUsed - 1} of the log`);
  // one more line would not fit
  const more = [...lines.slice(0, r.linesUsed + 1).map((l) => l.text), cutMark(400 - r.linesUsed - 1)].join('\n');
  assert.ok(more.length > IMAGE_TEXT_MAX_TOKENS);
  assert.deepEqual(r.notices, [`The text read from the image was cut to its first ${r.linesUsed} of 400 lines (token budget ${IMAGE_TEXT_MAX_TOKENS}).`]);
  // a small prompt budget: at most half of it
  const small = imageTextContext(lines, chars, 200);
  assert.ok(small.text.length <= 100 && small.linesUsed >= 1);
});
