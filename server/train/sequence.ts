// Host side of the training layout: where each token, visual token and label sits in the LLM
// sequence, exactly as the reference builds it (ScienceQADataSet.tokenize, then
// Transformer.insert_image_embeds, truncation to max_words, the modality token prepended and the
// sequence truncated again).

export type Modality = 'text' | 'image';

/** One tokenised training example (the output of ScienceQADataSet.tokenize). */
export interface TokenizedExample {
  modality: Modality;
  /** [BOS] prompt answer [EOS], zero-padded (or truncated) to max_words. */
  inputIds: number[];
  /** inputIds with BOS and prompt positions (and pads) set to 0. */
  labels: number[];
  /** Preprocessed image [3, R, R] for image examples. */
  pixels?: Float32Array;
  /** Where the example came from (file, record) for error messages and summaries. */
  source?: string;
}

/** A position in the LLM sequence after the modality token. */
export type Slot = { token: number } | { visual: number };

export interface LaidOutExample {
  modality: Modality;
  /** Positions 1..T-1 (position 0 is the modality token). */
  slots: Slot[];
  /** Labels aligned with all T positions (0 = ignored); the loss uses labelsInserted[1..]. */
  labelsInserted: number[];
  pixels?: Float32Array;
  source?: string;
}

export interface LayoutConfig {
  /** T: positions in the LLM sequence (the reference's max_words). */
  seqLen: number;
  /** tokenizer.encode("Image: ", bos=False) */
  prefixImage: number[];
  /** tokenizer.encode("Image: N/A", bos=False) */
  prefixText: number[];
  nVisual: number;
}

export function layoutExample(ex: TokenizedExample, cfg: LayoutConfig): LaidOutExample {
  const T = cfg.seqLen;
  const where = ex.source ? ` (${ex.source})` : '';
  if (ex.inputIds.length !== ex.labels.length) throw new Error(`training example${where}: ${ex.inputIds.length} ids but ${ex.labels.length} labels`);
  if (ex.inputIds.length < 1) throw new Error(`training example${where}: no tokens`);
  if (ex.modality === 'image' && !ex.pixels) throw new Error(`training example${where}: image example without pixels`);
  const image = ex.modality === 'image';
  const prefix = image ? cfg.prefixImage : cfg.prefixText;
  const slots: Slot[] = [{ token: ex.inputIds[0] }, ...prefix.map((t) => ({ token: t }))];
  const labels: number[] = [ex.labels[0], ...prefix.map(() => 0)];
  if (image) {
    for (let v = 0; v < cfg.nVisual; v++) {
      slots.push({ visual: v });
      labels.push(0);
    }
  }
  for (let i = 1; i < ex.inputIds.length; i++) {
    slots.push({ token: ex.inputIds[i] });
    labels.push(ex.labels[i]);
  }
  // insert_image_embeds truncates to the example length, then the modality token is prepended and
  // the sequence truncated to it again.
  const n = ex.inputIds.length;
  const keptSlots = slots.slice(0, n).slice(0, T - 1);
  const keptLabels = [0, ...labels.slice(0, n)].slice(0, T);
  while (keptSlots.length < T - 1) keptSlots.push({ token: 0 });
  while (keptLabels.length < T) keptLabels.push(0);
  return { modality: ex.modality, slots: keptSlots, labelsInserted: keptLabels, pixels: ex.pixels, source: ex.source };
}

export function labelledCount(ex: LaidOutExample): number {
  let n = 0;
  for (let i = 1; i < ex.labelsInserted.length; i++) if (ex.labelsInserted[i] !== 0) n++;
  return n;
}
