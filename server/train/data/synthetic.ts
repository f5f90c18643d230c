// A synthetic image-question set the project renders itself (sharp from SVG): one or more shapes of
// one colour and kind on a plain background; questions about colour, shape, count and position,
// each with a single-word answer. Written in the LLaVA-Instruct layout that `lavin train --data`
// reads: <dir>/train/data.json + images/, <dir>/test/data.json + images/. Deterministic per seed.

import * as fs from 'fs';
import * as path from 'path';
import { Rng } from '../rng';

export const SYNTHETIC_COLOURS: Record<string, string> = { red: '#e02020', green: '#20b020', blue: '#2040e0', yellow: '#e8d020' };
export const SYNTHETIC_SHAPES = ['circle', 'square', 'triangle'] as const;

export type SyntheticQuestion = 'colour' | 'shape' | 'count' | 'position';
export type SyntheticShape = 'circle' | 'square' | 'triangle' | 'diamond' | 'cross';

/** The words of a set: its colours, shapes, count words and the question asked for each kind. */
export interface SyntheticVocabulary {
  /** Answer word -> fill colour. */
  colours: Record<string, string>;
  /** Answer word -> the shape drawn. */
  shapes: Record<string, SyntheticShape>;
  counts: readonly [string, string, string];
  sides: readonly [string, string];
  questions: Record<SyntheticQuestion, string>;
}

export const STANDARD_VOCABULARY: SyntheticVocabulary = {
  colours: SYNTHETIC_COLOURS,
  shapes: Object.fromEntries(SYNTHETIC_SHAPES.map((x) => [x, x])),
  counts: ['one', 'two', 'three'],
  sides: ['left', 'right'],
  questions: {
    colour: 'What colour is the shape? Answer with one word.',
    shape: 'What shape is in the picture? Answer with one word.',
    count: 'How many shapes are there? Answer with one word.',
    position: 'Is the shape on the left or the right? Answer with one word.',
  },
};

/**
 * Other colours, shapes and wording (answers capitalised, a trailing full stop), to check that a
 * recipe tuned on the standard set is not tuned to its words.
 */
export const VARIED_VOCABULARY: SyntheticVocabulary = {
  colours: { Purple: '#8030c0', Orange: '#f08020', Cyan: '#20c0d0', Black: '#202020', Pink: '#f070b0' },
  shapes: { 'Diamond.': 'diamond', 'Cross.': 'cross', 'Circle.': 'circle' },
  counts: ['One.', 'Two.', 'Three.'],
  sides: ['Left.', 'Right.'],
  questions: {
    colour: 'Which colour do the objects have?',
    shape: 'Name the kind of object drawn here.',
    count: 'Count the objects in this image.',
    position: 'On which side of the image are the objects?',
  },
};

export interface SyntheticRecord {
  id: string;
  image: string;
  conversations: { from: 'human' | 'gpt'; value: string }[];
}

export interface SyntheticOptions {
  trainSize: number;
  testSize: number;
  seed?: number;
  /** Which kinds of question to ask (default all four). */
  questions?: SyntheticQuestion[];
  /** Side of the rendered PNG in pixels (default 96; CLIP preprocessing resizes it). */
  size?: number;
  /** Words of the set (default STANDARD_VOCABULARY). */
  vocabulary?: SyntheticVocabulary;
}

interface Scene {
  /** Answer words. */
  colour: string;
  shape: string;
  count: number;
  side: 'left' | 'right';
}

function shapeSvg(shape: SyntheticShape, cx: number, cy: number, r: number, fill: string): string {
  if (shape === 'circle') return `<circle cx="${cx}" cy="${cy}" r="${r}" fill="${fill}"/>`;
  if (shape === 'square') return `<rect x="${cx - r}" y="${cy - r}" width="${2 * r}" height="${2 * r}" fill="${fill}"/>`;
  if (shape === 'diamond') return `<polygon points="${cx},${cy - r} ${cx + r},${cy} ${cx},${cy + r} ${cx - r},${cy}" fill="${fill}"/>`;
  if (shape === 'cross') {
    const t = Math.round(r / 3);
    return `<rect x="${cx - r}" y="${cy - t}" width="${2 * r}" height="${2 * t}" fill="${fill}"/><rect x="${cx - t}" y="${cy - r}" width="${2 * t}" height="${2 * r}" fill="${fill}"/>`;
  }
  return `<polygon points="${cx},${cy - r} ${cx - r},${cy + r} ${cx + r},${cy + r}" fill="${fill}"/>`;
}

/** Shapes stacked in one column on the scene's side (count and position questions stay unambiguous). */
function sceneSvg(s: Scene, size: number, rng: Rng, v: SyntheticVocabulary): string {
  const r = Math.round(size * 0.11);
  const cx = Math.round((s.side === 'left' ? 0.27 : 0.73) * size + (rng.next() - 0.5) * size * 0.06);
  const rows = [[0.5], [0.3, 0.7], [0.18, 0.5, 0.82]][s.count - 1];
  const shapes = rows.map((y) => shapeSvg(v.shapes[s.shape], cx, Math.round(y * size), r, v.colours[s.colour])).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="#f4f4f4"/>${shapes}</svg>`;
}

function answerOf(s: Scene, q: SyntheticQuestion, v: SyntheticVocabulary): string {
  if (q === 'colour') return s.colour;
  if (q === 'shape') return s.shape;
  if (q === 'count') return v.counts[s.count - 1];
  return v.sides[s.side === 'left' ? 0 : 1];
}

/** Render the set into `dir`; returns the records of each split. */
export async function writeSyntheticSet(dir: string, opts: SyntheticOptions): Promise<{ train: SyntheticRecord[]; test: SyntheticRecord[] }> {
  const sharp = (await import('sharp')).default;
  const rng = new Rng(opts.seed ?? 1);
  const size = opts.size ?? 96;
  const vocabulary = opts.vocabulary ?? STANDARD_VOCABULARY;
  const kinds = opts.questions ?? (Object.keys(vocabulary.questions) as SyntheticQuestion[]);
  const colours = Object.keys(vocabulary.colours);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)];
  const split = async (name: 'train' | 'test', n: number): Promise<SyntheticRecord[]> => {
    const root = path.join(dir, name);
    fs.mkdirSync(path.join(root, 'images'), { recursive: true });
    const records: SyntheticRecord[] = [];
    for (let i = 0; i < n; i++) {
      const scene: Scene = { colour: pick(colours), shape: pick(Object.keys(vocabulary.shapes)), count: 1 + Math.floor(rng.next() * 3), side: rng.next() < 0.5 ? 'left' : 'right' };
      const q = kinds[i % kinds.length];
      const id = `${name}-${String(i).padStart(5, '0')}`;
      const image = `images/${id}.png`;
      await sharp(Buffer.from(sceneSvg(scene, size, rng, vocabulary))).png().toFile(path.join(root, image));
      records.push({ id, image, conversations: [{ from: 'human', value: `<image>\n${vocabulary.questions[q]}` }, { from: 'gpt', value: answerOf(scene, q, vocabulary) }] });
    }
    fs.writeFileSync(path.join(root, 'data.json'), JSON.stringify(records, null, 1));
    return records;
  };
  return { train: await split('train', opts.trainSize), test: await split('test', opts.testSize) };
}
