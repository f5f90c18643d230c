// A line number the detector boxed together with the code beside it (an editor's gutter sits a
// couple of monospace cells from the code, which DB's grown box can bridge). The reader splits such a
// box where a short lead of ink stands before a blank wider than any word gap, and keeps the lead as
// its own part when it reads as a digit run (readingOrder then keeps it apart from the code).

import type { RgbImage } from '../image';
import { inkRuns, lineInk } from './lineInk';

/** A blank at least this share of the ink height is wider than a word gap (a monospace space is ~0.75). */
const GAP_SHARE = 1.0;
/** The lead is at most this many ink heights wide (a few digits). */
const MAX_LEAD = 3;

/** Crop x in the middle of the wide blank after a short lead of ink, or null when the crop has no such lead. */
export function leadSplit(crop: RgbImage, background: [number, number, number]): number | null {
  const ink = lineInk(crop, background);
  if (ink.inkHeight === 0) return null;
  const runs = inkRuns(ink, 0, ink.width);
  const gap = GAP_SHARE * ink.inkHeight;
  for (let i = 0; i + 1 < runs.length; i++) {
    if (runs[i][1] - runs[0][0] > MAX_LEAD * ink.inkHeight) return null;
    if (runs[i + 1][0] - runs[i][1] >= gap) return Math.round((runs[i][1] + runs[i + 1][0]) / 2);
  }
  return null;
}
