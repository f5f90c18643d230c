// A training set from a documentation folder: Markdown / MDX / reStructuredText / plain-text files
// are split into sections, each section becomes an instruction sample ("explain <heading>" ->
// section text), and every referenced image with alt text or a caption becomes an image sample
// ("describe this image" -> alt text + caption; the text read from the image joins it as context when
// training runs, train/data/sampleImageText.ts). Walks only inside the chosen folder (symlinks are
// not followed, image references must resolve inside it), honours .gitignore files, and skips
// binaries and huge files. It never decodes images, so its summary doubles as a dry run.

import * as fs from 'fs';
import * as path from 'path';
import ignore, { Ignore } from 'ignore';
import { Minimatch } from 'minimatch';
import { instructionBody } from '../../engine/sequence';
import { chatPrompt, TextSample } from './tokenize';
import { resolveInside } from './paths';

export interface DocsDatasetOptions {
  /** Skip text files above this size (default 1 MiB). */
  maxFileBytes?: number;
  /** Skip images above this size (default 8 MiB). */
  maxImageBytes?: number;
  /** Longest answer kept, in characters (default 2000). */
  maxAnswerChars?: number;
  /** Shortest section kept, in characters (default 40). */
  minSectionChars?: number;
  /**
   * Glob patterns relative to the folder ("**\/*.md", "guide/**"): only documents matching one
   * are read. Absent or empty: every document. Images are not filtered: a used document's image
   * references count whatever their name.
   */
  include?: string[];
}

export interface DocsSummary {
  root: string;
  filesScanned: number;
  filesUsed: string[];
  skipped: { path: string; reason: string }[];
  textSamples: number;
  imageSamples: number;
  characters: number;
}

export interface DocsDataset {
  samples: TextSample[];
  summary: DocsSummary;
}

const TEXT_EXT = new Set(['.md', '.markdown', '.mdx', '.rst', '.txt']);
const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg', '.gif', '.webp']);
const ALWAYS_SKIP = new Set(['.git', 'node_modules', '.hg', '.svn']);

interface Section { heading: string; body: string }
interface ImageRef { target: string; alt: string; caption: string }

export function buildDocsDataset(root: string, opts: DocsDatasetOptions = {}): DocsDataset {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`docs folder ${root} does not exist or is not a folder`);
  const maxFile = opts.maxFileBytes ?? 1 << 20;
  const maxImage = opts.maxImageBytes ?? 8 << 20;
  const maxAnswer = opts.maxAnswerChars ?? 2000;
  const minSection = opts.minSectionChars ?? 40;
  const included = includeMatcher(opts.include);
  const summary: DocsSummary = { root, filesScanned: 0, filesUsed: [], skipped: [], textSamples: 0, imageSamples: 0, characters: 0 };
  const samples: TextSample[] = [];

  const walk = (dir: string, rules: { base: string; ig: Ignore }[]) => {
    const gi = path.join(dir, '.gitignore');
    if (fs.existsSync(gi)) rules = [...rules, { base: dir, ig: ignore().add(fs.readFileSync(gi, 'utf8')) }];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      const rel = path.relative(root, full);
      if (ALWAYS_SKIP.has(entry.name)) continue;
      // Outside the include globs: neither read nor reported (folders: nothing below can match).
      const relPosix = rel.split(path.sep).join('/');
      if (!(entry.isDirectory() ? included.folder(relPosix) : included.file(relPosix))) continue;
      if (rules.some((r) => r.ig.ignores(path.relative(r.base, full).split(path.sep).join('/') + (entry.isDirectory() ? '/' : '')))) {
        summary.skipped.push({ path: rel, reason: 'ignored by .gitignore' });
        continue;
      }
      if (entry.isSymbolicLink()) {
        summary.skipped.push({ path: rel, reason: 'symbolic link (not followed)' });
        continue;
      }
      if (entry.isDirectory()) {
        walk(full, rules);
        continue;
      }
      if (!entry.isFile()) continue;
      const ext = path.extname(entry.name).toLowerCase();
      if (!TEXT_EXT.has(ext)) continue;
      summary.filesScanned++;
      const size = fs.statSync(full).size;
      if (size > maxFile) {
        summary.skipped.push({ path: rel, reason: `larger than ${maxFile} bytes` });
        continue;
      }
      const bytes = fs.readFileSync(full);
      if (bytes.subarray(0, 8192).includes(0)) {
        summary.skipped.push({ path: rel, reason: 'binary content' });
        continue;
      }
      const text = bytes.toString('utf8');
      const { sections, images } = ext === '.rst' ? parseRst(text) : ext === '.txt' ? parseText(text, entry.name) : parseMarkdown(text, ext === '.mdx');
      let used = false;
      for (const s of sections) {
        const body = s.body.trim();
        if (body.length < minSection) continue;
        const answer = body.length > maxAnswer ? body.slice(0, maxAnswer) : body;
        const instruction = `Explain "${s.heading}" from ${rel.split(path.sep).join('/')}.`;
        samples.push({ prompt: chatPrompt(instruction), instruction, answer, source: `${rel}#${s.heading}` });
        summary.textSamples++;
        summary.characters += answer.length;
        used = true;
      }
      for (const img of images) {
        const description = [img.alt, img.caption].map((t) => t.trim()).filter(Boolean).join('. ');
        if (!description || /^(https?:|data:)/.test(img.target)) continue;
        let imagePath: string;
        try {
          imagePath = resolveInside(root, path.join(path.relative(root, dir), decodeURI(img.target.split('#')[0].split('?')[0])), rel);
        } catch (e) {
          summary.skipped.push({ path: `${rel} -> ${img.target}`, reason: (e as Error).message });
          continue;
        }
        if (!fs.existsSync(imagePath) || !IMAGE_EXT.has(path.extname(imagePath).toLowerCase())) {
          summary.skipped.push({ path: `${rel} -> ${img.target}`, reason: 'image missing or not a supported format' });
          continue;
        }
        if (fs.statSync(imagePath).size > maxImage) {
          summary.skipped.push({ path: `${rel} -> ${img.target}`, reason: `image larger than ${maxImage} bytes` });
          continue;
        }
        const instruction = 'Describe this image.';
        // A body, not text: training adds the text read from the image as its context (sampleImageText.ts).
        samples.push({ prompt: instructionBody(instruction), instruction, answer: description, imagePath, source: `${rel} -> ${img.target}` });
        summary.imageSamples++;
        summary.characters += description.length;
        used = true;
      }
      if (used) summary.filesUsed.push(rel);
    }
  };
  walk(root, []);
  return { samples, summary };
}

/** Throws, naming the entry, unless every include pattern is a non-empty glob relative to the docs folder. */
export function checkIncludePatterns(patterns: readonly unknown[]): void {
  patterns.forEach((pattern, i) => {
    if (typeof pattern !== 'string' || pattern.trim() === '') throw new Error(`include[${i}] must be a non-empty glob pattern`);
    if (path.isAbsolute(pattern) || /^[A-Za-z]:/.test(pattern) || pattern.split(/[\\/]/).includes('..')) {
      throw new Error(`include[${i}] "${pattern}" must be a pattern relative to the docs folder (no absolute paths or "..")`);
    }
  });
}

/** Matchers for the include globs; with none, everything is included. */
function includeMatcher(patterns: string[] | undefined): { file: (rel: string) => boolean; folder: (rel: string) => boolean } {
  if (!patterns || patterns.length === 0) return { file: () => true, folder: () => true };
  checkIncludePatterns(patterns);
  // dot: like VS Code's globs, "**" also walks into .github/ and similar folders.
  const matchers = patterns.map((pattern) => new Minimatch(pattern.replace(/^\.\//, ''), { dot: true }));
  return {
    file: (rel) => matchers.some((m) => m.match(rel)),
    // partial: could something below this folder still match? Prunes the walk for "guide/**".
    folder: (rel) => matchers.some((m) => m.match(rel, true)),
  };
}

function parseMarkdown(text: string, mdx: boolean): { sections: Section[]; images: ImageRef[] } {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const sections: Section[] = [];
  const images: ImageRef[] = [];
  let heading = 'Introduction';
  let body: string[] = [];
  let fence = false;
  let frontMatter = lines[0] === '---';
  const flush = () => {
    sections.push({ heading, body: body.join('\n') });
    body = [];
  };
  lines.forEach((line, i) => {
    if (frontMatter) {
      if (i > 0 && line === '---') frontMatter = false;
      return;
    }
    if (/^(```|~~~)/.test(line)) fence = !fence;
    const h = !fence && /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      flush();
      heading = h[2].replace(/#+\s*$/, '').trim();
      return;
    }
    if (mdx && !fence && (/^(import|export)\s/.test(line) || /^\s*<\/?[A-Z][^>]*>\s*$/.test(line))) return;
    const imageRe = /!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"([^"]*)")?\s*\)/g;
    let m: RegExpExecArray | null;
    while (!fence && (m = imageRe.exec(line))) {
      // A caption: the title, or an italic line right after the image.
      const next = lines[i + 1] ?? '';
      const italic = /^\s*[*_]([^*_].*[^*_])[*_]\s*$/.exec(next);
      images.push({ target: m[2], alt: m[1], caption: m[3] ?? (italic ? italic[1] : '') });
    }
    body.push(line);
  });
  flush();
  return { sections, images };
}

function parseRst(text: string): { sections: Section[]; images: ImageRef[] } {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const sections: Section[] = [];
  const images: ImageRef[] = [];
  let heading = 'Introduction';
  let body: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const under = lines[i + 1] ?? '';
    if (line.trim() && /^([=\-~^"'`#*+])\1{2,}\s*$/.test(under) && under.trim().length >= line.trim().length) {
      sections.push({ heading, body: body.join('\n') });
      body = [];
      heading = line.trim();
      i++;
      continue;
    }
    const img = /^\.\.\s+(image|figure)::\s*(\S+)/.exec(line);
    if (img) {
      let alt = '';
      let caption = '';
      let j = i + 1;
      for (; j < lines.length && (/^\s+:/.test(lines[j]) || lines[j].trim() === ''); j++) {
        const a = /^\s+:alt:\s*(.*)$/.exec(lines[j]);
        if (a) alt = a[1];
        if (lines[j].trim() === '' && img[1] === 'figure') {
          const cap = lines[j + 1];
          if (cap && /^\s+\S/.test(cap)) caption = cap.trim();
          break;
        }
      }
      images.push({ target: img[2], alt, caption });
      continue;
    }
    body.push(line);
  }
  sections.push({ heading, body: body.join('\n') });
  return { sections, images };
}

function parseText(text: string, name: string): { sections: Section[]; images: ImageRef[] } {
  const paragraphs = text.replace(/\r\n/g, '\n').split(/\n\s*\n/);
  const sections: Section[] = [];
  let buf = '';
  let part = 1;
  for (const p of paragraphs) {
    buf += (buf ? '\n\n' : '') + p.trim();
    if (buf.length > 800) {
      sections.push({ heading: `${name} part ${part++}`, body: buf });
      buf = '';
    }
  }
  if (buf) sections.push({ heading: part === 1 ? name : `${name} part ${part}`, body: buf });
  return { sections, images: [] };
}
