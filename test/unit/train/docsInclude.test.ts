// buildDocsDataset's include globs: which documents are read, folders the walk skips, and the
// patterns it refuses.

import assert from 'node:assert/strict';
import * as fs from 'fs';
// The module object itself (not the namespace copy), so a mock is seen by docs.ts too.
import fsModule from 'fs';
import * as path from 'path';
import { describe, mock, test } from 'node:test';
import { buildDocsDataset, checkIncludePatterns } from '../../../server/train/data/docs';
import { tempDir } from '../../helpers/tempDir';

const SECTION = 'This section is long enough to become one training sample of its own.';

/** a.md, guide/b.md, guide/deep/c.mdx, .github/d.md, notes.txt, other/blob.md (binary), other/old.md (.gitignored) */
function docsFolder(): string {
  const root = tempDir('lavin-include-');
  const write = (rel: string, heading: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), `# ${heading}\n\n${SECTION}\n`);
  };
  write('a.md', 'A');
  write('guide/b.md', 'B');
  write('guide/deep/c.mdx', 'C');
  write('.github/d.md', 'D');
  fs.writeFileSync(path.join(root, 'notes.txt'), SECTION);
  fs.mkdirSync(path.join(root, 'other'));
  fs.writeFileSync(path.join(root, 'other/blob.md'), Buffer.from([35, 0, 1, 2]));
  fs.writeFileSync(path.join(root, 'other/.gitignore'), 'old.md\n');
  write('other/old.md', 'Old');
  return root;
}

const sources = (root: string, include?: string[]) => buildDocsDataset(root, { include }).samples.map((s) => s.source).sort();

describe('docs dataset include globs', () => {
  const root = docsFolder();

  test('no include (or an empty list) reads every document', () => {
    const all = ['.github/d.md#D', 'a.md#A', 'guide/b.md#B', 'guide/deep/c.mdx#C', 'notes.txt#notes.txt'];
    assert.deepEqual(sources(root), all);
    assert.deepEqual(sources(root, []), all);
  });

  test('patterns match paths relative to the folder, "**" includes dot folders', () => {
    assert.deepEqual(sources(root, ['*.md']), ['a.md#A']);
    assert.deepEqual(sources(root, ['**/*.md']), ['.github/d.md#D', 'a.md#A', 'guide/b.md#B']);
    assert.deepEqual(sources(root, ['guide/**']), ['guide/b.md#B', 'guide/deep/c.mdx#C']);
    assert.deepEqual(sources(root, ['./guide/*.md', '**/*.txt']), ['guide/b.md#B', 'notes.txt#notes.txt']);
    assert.deepEqual(sources(root, ['**/*.{md,mdx}']).length, 4);
    assert.deepEqual(sources(root, ['**/*.rst']), []);
  });

  test('only matching documents count as scanned; the rest is neither read nor reported', () => {
    const { summary } = buildDocsDataset(root, { include: ['guide/**'] });
    assert.equal(summary.filesScanned, 2);
    assert.deepEqual(summary.filesUsed.sort(), ['guide/b.md', path.join('guide', 'deep', 'c.mdx')].sort());
    assert.deepEqual(summary.skipped, []);
    const everything = buildDocsDataset(root).summary;
    assert.equal(everything.filesScanned, 6);
    assert.deepEqual(everything.skipped, [
      { path: path.join('other', 'blob.md'), reason: 'binary content' },
      { path: path.join('other', 'old.md'), reason: 'ignored by .gitignore' },
    ]);
  });

  test('folders that no pattern can reach are not walked', () => {
    const readdir = mock.method(fsModule, 'readdirSync');
    try {
      buildDocsDataset(root, { include: ['guide/*.md'] });
      const walked = readdir.mock.calls.map((c) => path.relative(root, String(c.arguments[0]))).sort();
      assert.deepEqual(walked, ['', 'guide']);
    } finally {
      readdir.mock.restore();
    }
  });

  test('refuses empty, absolute and escaping patterns, naming the entry', () => {
    assert.throws(() => buildDocsDataset(root, { include: ['**/*.md', ''] }), /include\[1\] must be a non-empty glob pattern/);
    assert.throws(() => buildDocsDataset(root, { include: ['/etc/*.md'] }), /include\[0\] "\/etc\/\*\.md" must be a pattern relative to the docs folder/);
    assert.throws(() => buildDocsDataset(root, { include: ['guide/../../x/**'] }), /include\[0\] .* must be a pattern relative/);
    assert.throws(() => checkIncludePatterns(['ok/**', 3]), /include\[1\] must be a non-empty glob pattern/);
    assert.doesNotThrow(() => checkIncludePatterns(['docs/**', '**/*.md', 'a..b/*.md']));
  });
});
