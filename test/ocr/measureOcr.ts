// The OCR accuracy measurement the test asserts on. Also runnable alone:
//   node out/test/ocr/measureOcr.js [--held-out feedback|unseen] [--keep] [--dir DIR] [--pad F]
// prints the table and every miss (--keep leaves the images, --dir reads an already rendered set,
// --pad sets TextReaderOptions.cropPadding).

import * as fs from 'fs';
import * as path from 'path';
import { TextReader } from '../../server/engine/ocr/textReader';
import { Miss, removeDir, renderScreens, RenderedScreen, scoreScreen, screenPlan } from './renderScreens';
import { HeldOutGroup, heldOutPages } from './heldOutPages';
import { screenPages } from './screenPages';
import { tempDir } from '../helpers/tempDir';

export interface OcrAccuracy {
  found: number;
  total: number;
  /** found / total per group name (category, language, theme, scale, format). */
  groups: Map<string, { found: number; total: number }>;
  misses: Miss[];
  images: number;
  renderSeconds: number;
  readSeconds: number;
  /** Which pages: the test set (absent) or a held-out group. */
  set?: string;
}

export async function measureOcrAccuracy(opts: { heldOut?: HeldOutGroup; keepDir?: boolean; threads?: number; renderedDir?: string; cropPadding?: number; gapSpaces?: boolean; only?: RegExp } = {}): Promise<OcrAccuracy & { dir: string }> {
  const dir = opts.renderedDir ?? tempDir('lavin-ocr-set-');
  let t = Date.now();
  const pages = opts.heldOut ? heldOutPages(opts.heldOut) : screenPages();
  const screens: RenderedScreen[] = (opts.renderedDir ? screenPlan(dir, pages) : await renderScreens(dir, pages)).filter((s) => !opts.only || opts.only.test(path.basename(s.file)));
  const renderSeconds = (Date.now() - t) / 1000;
  const reader = await TextReader.open({ threads: opts.threads ?? 2, cropPadding: opts.cropPadding, gapSpaces: opts.gapSpaces });
  const groups = new Map<string, { found: number; total: number }>();
  const misses: Miss[] = [];
  let found = 0;
  let total = 0;
  t = Date.now();
  try {
    for (const s of screens) {
      const lines = await reader.read(fs.readFileSync(s.file));
      const r = scoreScreen(s.expect, lines.map((l) => l.text), s.file);
      found += r.found;
      total += s.expect.length;
      misses.push(...r.misses);
      for (const g of [s.category, s.lang, s.theme, `${s.scale}x`, s.format]) {
        const e = groups.get(g) ?? { found: 0, total: 0 };
        e.found += r.found;
        e.total += s.expect.length;
        groups.set(g, e);
      }
    }
  } finally {
    await reader.dispose();
    if (!opts.keepDir && !opts.renderedDir) removeDir(dir);
  }
  return { set: opts.heldOut && `held-out pages (${opts.heldOut})`, found, total, groups, misses, images: screens.length, renderSeconds, readSeconds: (Date.now() - t) / 1000, dir };
}

export function formatAccuracy(a: OcrAccuracy): string {
  const pct = (f: number, n: number) => `${((100 * f) / n).toFixed(1)} % (${f}/${n})`;
  const rows = [...a.groups].map(([g, e]) => `  ${g.padEnd(11)} ${pct(e.found, e.total)}`);
  return [`OCR ${a.set ?? 'test set'}: ${a.images} images, expected strings found exactly ${pct(a.found, a.total)}; render ${a.renderSeconds.toFixed(1)} s, read ${a.readSeconds.toFixed(1)} s`, ...rows].join('\n');
}

if (require.main === module) {
  const at = process.argv.indexOf('--dir');
  const held = process.argv.indexOf('--held-out');
  const pad = process.argv.indexOf('--pad');
  void measureOcrAccuracy({ heldOut: held > 0 ? (process.argv[held + 1] as HeldOutGroup) : undefined, keepDir: process.argv.includes('--keep'), renderedDir: at > 0 ? process.argv[at + 1] : undefined, cropPadding: pad > 0 ? Number(process.argv[pad + 1]) : undefined, gapSpaces: !process.argv.includes('--no-gap-spaces'), only: process.argv.includes('--only') ? new RegExp(process.argv[process.argv.indexOf('--only') + 1]) : undefined }).then((a) => {
    console.log(formatAccuracy(a));
    for (const m of a.misses) console.log(`  miss ${m.file}: ${JSON.stringify(m.expected)}  read ${JSON.stringify(m.closest)}`);
    if (process.argv.includes('--keep')) console.log(`images in ${a.dir}`);
  });
}
