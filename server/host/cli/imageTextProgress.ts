// `lavin train` on image samples reads the text of every image (OCR, ~0.5 s a screenshot on 2 cores)
// before step 1. This shows that wait: the progress bar on stderr (a line per 10 % on a pipe), at
// most one redraw and one --json `progress` event a second, and a last line with how many images
// had text and how long reading took.

import { imageTextProgressText } from '../../protocolText';
import type { ImageTextProgressUpdate } from '../training';
import { CliOutput } from './output';

/** A listener for the trainer's image-text progress that reports it through `out`; `now` in ms. */
export function imageTextProgress(out: CliOutput, now: () => number = () => performance.now()): (p: ImageTextProgressUpdate) => void {
  let started: number | undefined;
  let lastShown = -Infinity;
  let lastDecile = -1;
  return (p) => {
    const t = now();
    started ??= t;
    if (p.total <= 0) return;
    const counts = { done: p.done, total: p.total, withText: p.withText };
    if (p.done >= p.total) {
      const message = `${imageTextProgressText(p)} in ${((t - started) / 1000).toFixed(1)} s`;
      out.endProgress();
      out.event({ event: 'progress', message, percentage: 100, ...counts });
      out.info(message);
      return;
    }
    const decile = Math.floor((10 * p.done) / p.total);
    if (t - lastShown < 1000 && decile === lastDecile) return;
    lastShown = t;
    lastDecile = decile;
    out.event({ event: 'progress', message: imageTextProgressText(p), percentage: Math.round((100 * p.done) / p.total), ...counts });
    out.progress('reading image text', p.done / p.total, `${p.done}/${p.total} images`);
  };
}
