// How training's progress reads, in the same words wherever it is shown: the server's work-done bar
// (any LSP client), the extension's notification and the `lavin` CLI. Beside protocol.ts and, like
// it, importing nothing but protocol types, so the extension may use it.

import type { TrainImageTextParams, TrainPreparingParams, TrainProgressParams } from './protocol';

/** "42 s", "2 min 5 s", "2 h 3 min"; "…" before the first estimate. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '…';
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** "step 3/200 · loss 1.234 · ETA 2 min 5 s". */
export function trainStepText(p: Pick<TrainProgressParams, 'step' | 'totalSteps' | 'loss' | 'etaSeconds'>): string {
  return `step ${p.step}/${p.totalSteps} · loss ${p.loss.toFixed(3)} · ETA ${formatEta(p.etaSeconds)}`;
}

/** Reading the images' text before step 1: "reading the text of the images: 3/40", then "read the text of 40 images (12 with text)". */
export function imageTextProgressText(p: Pick<TrainImageTextParams, 'done' | 'total' | 'withText'>): string {
  return p.done < p.total ? `reading the text of the images: ${p.done}/${p.total}` : `read the text of ${p.total} image${p.total === 1 ? '' : 's'} (${p.withText} with text)`;
}

/** Measuring the images for a fresh vision set before step 1: "<what>: 3/128", then "<what>: 128 images done". */
export function preparingText(p: Pick<TrainPreparingParams, 'what' | 'done' | 'total'>): string {
  return p.done < p.total ? `${p.what}: ${p.done}/${p.total}` : `${p.what}: ${p.total} image${p.total === 1 ? '' : 's'} done`;
}
