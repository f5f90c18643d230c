// Vision-language training data on disk, validated before a run starts:
//   - LLaVA-Instruct style: <dir>/data.json, a list of
//       { "id", "image": "relative/path.png", "conversations": [{ "from": "human", "value": "<image>\nq" },
//         { "from": "gpt", "value": "answer" }, ...] }
//     Every gpt turn becomes one sample: the earlier turns are its history (engine/sequence.ts lays
//     them out), the `<image>` marker is dropped, and only the answer is labelled.
//   - the ScienceQA layout (problems.json + pid_splits.json; data/scienceqa.ts), its train split.
// A sample that cannot be used (missing or undecodable image, no gpt turn, bad shape) is skipped
// with its reason; the caller reports the count and the reasons.

import * as fs from 'fs';
import * as path from 'path';
import { decodeRgb } from '../../engine/image';
import { Turn } from '../../engine/sequence';
import { loadScienceQa } from './scienceqa';
import { resolveInside } from './paths';
import { TextSample } from './tokenize';

export const LLAVA_DATA_FILE = 'data.json';

export interface SkippedSample {
  where: string;
  reason: string;
}

export interface VisionDataset {
  format: 'llava' | 'scienceqa';
  /** Records (conversations or problems) read. */
  records: number;
  samples: TextSample[];
  skipped: SkippedSample[];
}

/** Whether `dir` holds a dataset this module reads (so callers can tell it from a docs folder). */
export function isVisionDataDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, LLAVA_DATA_FILE)) || fs.existsSync(path.join(dir, 'problems.json'));
}

export async function loadVisionDataset(dir: string, opts: { split?: string } = {}): Promise<VisionDataset> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`data folder ${dir} does not exist or is not a folder`);
  if (fs.existsSync(path.join(dir, LLAVA_DATA_FILE))) return loadLlava(dir);
  if (fs.existsSync(path.join(dir, 'problems.json'))) {
    const samples = loadScienceQa(dir, opts.split ?? 'train');
    const checked = await checkImages(samples);
    return { format: 'scienceqa', records: samples.length, ...checked };
  }
  throw new Error(`data folder ${dir} has neither ${LLAVA_DATA_FILE} (LLaVA-Instruct conversations) nor problems.json (ScienceQA)`);
}

/** The answer's text as a label: one leading space (LaVIN prompts end with the response marker, sequence.ts), trimmed. */
export function answerText(value: string): string {
  return ` ${value.trim()}`;
}

async function loadLlava(dir: string): Promise<VisionDataset> {
  const file = path.join(dir, LLAVA_DATA_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${file}: expected a JSON list of {"id", "image", "conversations"} records`);
  const samples: TextSample[] = [];
  const skipped: SkippedSample[] = [];
  parsed.forEach((rec, i) => {
    const where = `${LLAVA_DATA_FILE}#${i + 1}${isObject(rec) && (typeof rec.id === 'string' || typeof rec.id === 'number') ? ` (id ${rec.id})` : ''}`;
    try {
      samples.push(...recordSamples(rec, dir, where));
    } catch (e) {
      skipped.push({ where, reason: (e as Error).message });
    }
  });
  const checked = await checkImages(samples);
  return { format: 'llava', records: parsed.length, samples: checked.samples, skipped: [...skipped, ...checked.skipped] };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** One record -> one sample per gpt turn (throws the reason the record cannot be used). */
function recordSamples(rec: unknown, root: string, where: string): TextSample[] {
  if (!isObject(rec)) throw new Error('a record must be an object');
  const conv = rec.conversations;
  if (!Array.isArray(conv) || conv.length === 0) throw new Error('"conversations" must be a non-empty list');
  const turns: Turn[] = conv.map((t, k) => {
    if (!isObject(t) || typeof t.value !== 'string') throw new Error(`conversation turn ${k + 1} needs a string "value"`);
    if (t.from === 'human' || t.from === 'user') return { role: 'user', content: t.value.replace(/<image>\n?|\n?<image>/g, '').trim() };
    if (t.from === 'gpt' || t.from === 'assistant') return { role: 'assistant', content: t.value.trim() };
    throw new Error(`conversation turn ${k + 1}: "from" must be "human" or "gpt", got ${JSON.stringify(t.from)}`);
  });
  let imagePath: string | undefined;
  if (rec.image !== undefined && rec.image !== null && rec.image !== '') {
    if (typeof rec.image !== 'string') throw new Error('"image" must be a path string');
    imagePath = resolveInside(root, rec.image, where);
    if (!fs.existsSync(imagePath)) throw new Error(`image ${rec.image} does not exist`);
  }
  const out: TextSample[] = [];
  turns.forEach((t, k) => {
    if (t.role !== 'assistant') return;
    const history = turns.slice(0, k);
    if (history.length === 0 || history[history.length - 1].role !== 'user') throw new Error(`gpt turn ${k + 1} does not answer a human turn`);
    if (!t.content) throw new Error(`gpt turn ${k + 1} is empty`);
    if (!history[history.length - 1].content) throw new Error(`human turn ${k} is empty`);
    out.push({ prompt: { kind: 'chat', turns: history }, answer: answerText(t.content), instruction: history[history.length - 1].content, imagePath, source: `${where} turn ${k + 1}` });
  });
  if (out.length === 0) throw new Error('no gpt turn to learn from');
  return out;
}

/** Decode every distinct image once (cheap header + pixel check); samples whose image fails are skipped. */
async function checkImages(samples: TextSample[]): Promise<{ samples: TextSample[]; skipped: SkippedSample[] }> {
  const bad = new Map<string, string>();
  for (const file of new Set(samples.map((s) => s.imagePath).filter((p): p is string => !!p))) {
    try {
      await decodeRgb(fs.readFileSync(file));
    } catch (e) {
      bad.set(file, `image ${path.basename(file)} cannot be read: ${(e as Error).message}`);
    }
  }
  const skipped: SkippedSample[] = [];
  const kept = samples.filter((s) => {
    const reason = s.imagePath && bad.get(s.imagePath);
    if (reason) skipped.push({ where: s.source, reason });
    return !reason;
  });
  return { samples: kept, skipped };
}
