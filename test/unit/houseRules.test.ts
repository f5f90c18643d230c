// The house rules that a reader can check mechanically, over server/ and extension/ (README
// "Layout"): no import loop, no two files with the same base name (index.ts aside), no file over
// 400 lines without a comment saying why (a comment that mentions "400 lines"), and each LaVIN
// prompt literal written in exactly one source file (engine/sequence.ts).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '../../..');
const DIRS = ['server', 'extension'];

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) out.push(rel);
    }
  };
  DIRS.forEach(walk);
  return out.sort();
}

const files = sourceFiles();
const text = new Map(files.map((f) => [f, fs.readFileSync(path.join(ROOT, f), 'utf8')]));

/** Relative imports (type-only ones too: a loop of types is still a loop for the reader). */
function imports(file: string): string[] {
  const out: string[] = [];
  for (const m of text.get(file)!.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1])).replace(/\.js$/, '');
    const hit = [`${target}.ts`, `${target}/index.ts`].find((c) => text.has(c));
    if (hit) out.push(hit);
  }
  return out;
}

/** Strongly connected components with more than one file (Tarjan). */
export function importLoops(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const loops: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) loops.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return loops;
}

test('the loop finder finds a loop (so the next test can fail)', () => {
  assert.deepEqual(importLoops(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c']]);
  assert.deepEqual(importLoops(new Map([['a', ['b']], ['b', []]])), []);
});

test('no import loop under server/ and extension/', () => {
  const loops = importLoops(new Map(files.map((f) => [f, imports(f)])));
  assert.deepEqual(loops, [], loops.map((l) => `files importing each other in a loop: ${l.join(", ")}`).join('\n'));
});

test('no two source files share a base name (index.ts aside)', () => {
  const byName = new Map<string, string[]>();
  for (const f of files) byName.set(path.basename(f), [...(byName.get(path.basename(f)) ?? []), f]);
  const dupes = [...byName].filter(([name, fs]) => name !== 'index.ts' && fs.length > 1).map(([, fs]) => fs.join(' and '));
  assert.deepEqual(dupes, []);
});

test('no file over 400 lines without a comment saying why', () => {
  const long = files.filter((f) => text.get(f)!.split('\n').length - 1 > 400 && !/\/\/.*\b400 lines\b|\*.*\b400 lines\b/.test(text.get(f)!));
  assert.deepEqual(long, []);
});

test('each LaVIN prompt literal is written in one source file only', () => {
  for (const literal of ['Image: N/A', 'Image: ', 'Instruction:', 'Response:', 'Context:']) {
    const re = new RegExp(`(?<![A-Za-z])${literal.replace(/[/]/g, '\\/')}`);
    const where = files.filter((f) => re.test(text.get(f)!.replace(/\\n/g, ' ')));
    assert.deepEqual(where, ['server/engine/sequence.ts'], `"${literal}" is written in ${where.join(', ')}`);
  }
});
