// The pre-tokenizers' character classes against llama.cpp's own table (src/unicode-data.cpp of the
// bundled tree): every codepoint's category group and White_Space flag must be the same.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { codepointFlags } from '../../../server/engine/tokenizer/unicodeFlags';
import { llamaCppTree } from '../../helpers/llamaCppTree';

function section(src: string, name: string): string {
  const start = src.indexOf(name);
  assert.ok(start >= 0, `${name} not found in unicode-data.cpp`);
  return src.slice(start, src.indexOf('};', start));
}

test('codepoint flags equal llama.cpp unicode-data.cpp for all 0x110000 codepoints', async () => {
  const src = fs.readFileSync(path.join(await llamaCppTree(), 'src', 'unicode-data.cpp'), 'utf8');
  const ranges = [...section(src, 'unicode_ranges_flags').matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+)\}/g)].map((m) => [parseInt(m[1], 16), parseInt(m[2], 16)]);
  const whitespace = new Set([...section(src, 'unicode_set_whitespace').matchAll(/0x([0-9A-F]+)/g)].map((m) => parseInt(m[1], 16)));
  assert.ok(ranges.length > 1000 && whitespace.size > 20, 'the table was read');
  assert.equal(ranges[ranges.length - 1][0], 0x110000);
  const mismatches: string[] = [];
  for (let i = 0; i + 1 < ranges.length; i++) {
    for (let cp = ranges[i][0]; cp < ranges[i + 1][0]; cp++) {
      const want = ranges[i][1] | (whitespace.has(cp) ? 0x100 : 0);
      const got = codepointFlags(cp);
      if (want !== got) mismatches.push(`U+${cp.toString(16)}: llama.cpp 0x${want.toString(16)}, ours 0x${got.toString(16)}`);
    }
  }
  assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} codepoints differ`);
});
