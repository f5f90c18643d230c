// Renders the OCR test set with headless Chromium (Debian's, via playwright-core) into a folder:
// every page in light and dark, at device scale 0.8, 1 and 1.25, as PNG or JPEG (quality 80),
// alternating so that every page, scale and theme appears in both formats.

import * as fs from 'fs';
import * as path from 'path';
import { chromium } from 'playwright-core';
import { Category, Lang, pageHtml, ScreenPage, screenPages, Theme } from './screenPages';

export interface RenderedScreen {
  file: string;
  category: Category;
  lang: Lang;
  theme: Theme;
  scale: number;
  format: 'png' | 'jpeg';
  expect: string[];
}

export const SCALES = [0.8, 1, 1.25];
const THEMES: Theme[] = ['light', 'dark'];
const VIEWPORT = { width: 960, height: 600 };

/** The set's images (file names under dir and what each shows), in rendering order. */
export function screenPlan(dir: string, pages: ScreenPage[] = screenPages()): RenderedScreen[] {
  return SCALES.flatMap((scale, si) => THEMES.flatMap((theme, ti) => pages.map((page, pi) => {
    const format: 'png' | 'jpeg' = (si + ti + pi) % 2 === 0 ? 'png' : 'jpeg';
    const file = path.join(dir, `${page.category}-${page.lang}-${theme}-${scale}x.${format === 'png' ? 'png' : 'jpg'}`);
    return { file, category: page.category, lang: page.lang, theme, scale, format, expect: page.expect };
  })));
}

export async function renderScreens(dir: string, pageList: ScreenPage[] = screenPages()): Promise<RenderedScreen[]> {
  const plan = screenPlan(dir, pageList);
  const pages = new Map(pageList.map((p) => [`${p.category}-${p.lang}`, p]));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--font-render-hinting=none'],
  });
  try {
    for (const scale of SCALES) {
      const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: scale });
      const tab = await context.newPage();
      for (const s of plan.filter((x) => x.scale === scale)) {
        await tab.setContent(pageHtml(pages.get(`${s.category}-${s.lang}`)!, s.theme));
        await tab.screenshot({ path: s.file, type: s.format, ...(s.format === 'jpeg' ? { quality: 80 } : {}) });
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return plan;
}

/** What "found exactly" compares: NFKC, whitespace runs as one space, trimmed. */
export function normaliseForMatch(s: string): string {
  return s.normalize('NFKC').replace(/\s+/g, ' ').trim();
}

export interface Miss {
  file: string;
  expected: string;
  closest: string;
}

/** Expected strings found inside one read line (after normalisation), with the misses. */
export function scoreScreen(expect: string[], lines: string[], file: string): { found: number; misses: Miss[] } {
  const read = lines.map(normaliseForMatch);
  const misses: Miss[] = [];
  for (const e of expect.map(normaliseForMatch)) {
    if (read.some((l) => l.includes(e))) continue;
    misses.push({ file: path.basename(file), expected: e, closest: closestLine(e, read) });
  }
  return { found: expect.length - misses.length, misses };
}

function closestLine(e: string, lines: string[]): string {
  let best = '';
  let bestScore = -1;
  for (const l of lines) {
    let common = 0;
    for (const ch of new Set(e)) if (l.includes(ch)) common++;
    if (common > bestScore) {
      bestScore = common;
      best = l;
    }
  }
  return best;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
