// OCR accuracy on the test set the project renders itself with Chromium (test/ocr/screenPages.ts:
// dialogs, terminals, stack traces, tables, settings, an editor with a problems list and a
// notification; English and Chinese; light and dark; device scale 0.8, 1 and 1.25; PNG and JPEG;
// 72 images, 876 expected strings, rendered into a temp folder that is removed afterwards). A string
// counts when one read line contains it exactly after NFKC and whitespace normalisation.
//
// The target is 97 %; the assertion is the target itself. Measured with this reader on
// 2026-12-04: 99.0 % (867/876). The second test reads pages kept out of the reader's tuning
// (test/ocr/heldOutPages.ts) and reports them apart: they show how far the rules carry to screens they
// were not shaped on, which the first number cannot. Their floors are the measured levels less a margin,
// so a regression fails; they are not the target.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAccuracy, measureOcrAccuracy } from '../ocr/measureOcr';

const TARGET = 0.97;
/** Held-out groups: measured 2026-12-04 (feedback 88.1 %, unseen 85.5 %) less about 3 points. */
const HELD_OUT_FLOOR = { feedback: 0.85, unseen: 0.82 } as const;

test('OCR reads the rendered screenshot set (share of expected strings found exactly)', { timeout: 30 * 60_000 }, async (t) => {
  const a = await measureOcrAccuracy();
  const share = a.found / a.total;
  t.diagnostic(formatAccuracy(a));
  for (const m of a.misses) t.diagnostic(`miss ${m.file}: ${JSON.stringify(m.expected)} read ${JSON.stringify(m.closest)}`);
  assert.equal(a.images, 72);
  assert.ok(share >= TARGET, `found ${(share * 100).toFixed(1)} % of the expected strings, below the ${TARGET * 100} % target`);
});

test('OCR on held-out pages (reported apart from the target)', { timeout: 30 * 60_000 }, async (t) => {
  for (const group of ['feedback', 'unseen'] as const) {
    const a = await measureOcrAccuracy({ heldOut: group });
    const share = a.found / a.total;
    t.diagnostic(formatAccuracy(a));
    for (const m of a.misses) t.diagnostic(`miss ${m.file}: ${JSON.stringify(m.expected)} read ${JSON.stringify(m.closest)}`);
    assert.ok(share >= HELD_OUT_FLOOR[group], `held-out ${group}: ${(share * 100).toFixed(1)} %, below its ${HELD_OUT_FLOOR[group] * 100} % floor`);
  }
});
