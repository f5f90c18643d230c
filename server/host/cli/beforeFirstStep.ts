// `lavin train` waits before step 1: reading the text of every image (OCR, ~0.5 s a screenshot on
// 2 cores), then, for a fresh vision set, measuring the CLIP features of up to a few hundred images
// (minutes for a ViT-L on a CPU). This shows each wait: the progress bar on stderr (a line per 10 %
// on a pipe), at most one redraw and one --json `progress` event a second, and a last line with the
// counts and how long it took.

import { imageTextProgressText, preparingText } from '../../protocolText';
import type { ImageTextProgressUpdate, PreparingUpdate } from '../training';
import { CliOutput } from './output';

type Now = () => number;

/** A listener for the trainer's image-text progress that reports it through `out`; `now` in ms. */
export function imageTextProgress(out: CliOutput, now: Now = () => performance.now()): (p: ImageTextProgressUpdate) => void {
  return countedProgress(out, now, 'reading image text', imageTextProgressText, (p) => ({ done: p.done, total: p.total, withText: p.withText }));
}

/** A listener for a fresh vision set's measuring of its images. */
export function preparingProgress(out: CliOutput, now: Now = () => performance.now()): (p: PreparingUpdate) => void {
  return countedProgress(out, now, 'measuring images', preparingText, (p) => ({ done: p.done, total: p.total }));
}

function countedProgress<P extends { done: number; total: number }>(out: CliOutput, now: Now, bar: string, text: (p: P) => string, counts: (p: P) => Record<string, number>): (p: P) => void {
  let started: number | undefined;
  let lastShown = -Infinity;
  let lastDecile = -1;
  return (p) => {
    const t = now();
    started ??= t;
    if (p.total <= 0) return;
    if (p.done >= p.total) {
      const message = `${text(p)} in ${((t - started) / 1000).toFixed(1)} s`;
      out.endProgress();
      out.event({ event: 'progress', message, percentage: 100, ...counts(p) });
      out.info(message);
      return;
    }
    const decile = Math.floor((10 * p.done) / p.total);
    if (t - lastShown < 1000 && decile === lastDecile) return;
    lastShown = t;
    lastDecile = decile;
    out.event({ event: 'progress', message: text(p), percentage: Math.round((100 * p.done) / p.total), ...counts(p) });
    out.progress(bar, p.done / p.total, `${p.done}/${p.total} images`);
  };
}
