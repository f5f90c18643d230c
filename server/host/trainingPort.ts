// Wires the trainer in server/train to the host's TrainingPort: docs folder (or image-question data,
// train/vision.ts) -> examples -> train(),
// adapter sets in a store folder (one sub-folder per set, adapter.json + tensors), and export to an
// official LaVIN adapter .pth when a set is activated.

import * as fs from 'fs';
import * as path from 'path';
import { LavinModel } from '../engine/lavinModel';
import { AdapterSetInfo, ExportAdapterSetResult, ImportAdapterSetResult, PreviewTrainingResult, PreviewVisionDataResult } from '../protocol';
import { ADAPTER_SET_NAME, exportAdapterSet, importAdapterSet } from '../train/adapterExport';
import { previewVisionData } from './visionPreview';
import { ADAPTER_META_FILE, adapterSetKind, setFingerprint, AdapterSetMeta, BaseModelIdentity, baseModelIdentity, checkAdapterSetFits, buildDocsDataset, exportLavinPth, layoutPrefixes, loadAdapterSet, prepareExamples, readMeta, train } from '../train';
import { lavinHome } from './defaults';
import { badParams } from './errors';
import { summarizeDocsDataset } from './docsPreview';
import { TrainingPort, TrainOutcome, TrainRun } from './training';
import { trainVisionAdapters } from '../train/vision';
import { backboneIdentityOf, setSeesImages } from '../train/backboneTraining';
import { addImageText, imageSampleWords, ImageTextCache } from '../train/data/sampleImageText';
import { backboneTrainingWeights } from '../train/frozenWeights';
import { openBackbone } from '../engine/weights/backbone';

/** Tokens per training example (prompt + answer); docs sections longer than this are cut. */
const MAX_WORDS = 128;
const EXPORT_FILE = 'lavin-adapter.pth';

export function defaultAdapterSetsDir(): string {
  return path.join(lavinHome(), 'adapter-sets');
}

export function nodeTrainingPort(storeDir: string = defaultAdapterSetsDir()): TrainingPort {
  const setDir = (name: string) => path.join(storeDir, name);
  // OCR of training images, by content: a resumed or repeated run reads no image twice.
  const imageTextCache = new ImageTextCache();

  return {
    async train(run: TrainRun): Promise<TrainOutcome> {
      const outDir = run.outDir ?? setDir(run.name);
      if (run.resume && !fs.existsSync(path.join(outDir, ADAPTER_META_FILE))) {
        throw badParams(`nothing to resume: ${outDir} holds no adapter set (start without resume)`);
      }
      if (!run.resume && !run.overwrite) refuseToReplace(outDir, run.name);
      if (run.dataDir) {
        // A backbone trains its vision adapters over the CLIP it was given (--clip, or its mmproj); the set records both.
        if (run.model.info.backbone) {
          if (!run.model.clipFile) throw badParams(`vision training on the backbone ${run.model.info.name} needs its CLIP: give --clip PATH (a Hugging Face CLIP folder or safetensors, an OpenAI .pt, or a LLaVA mmproj .gguf)`);
          if (run.resume) checkSetFitsModel(run.name, readMeta(outDir), backboneIdentityOf(run.model));
        }
        const v = await trainVisionAdapters({
          model: run.model, dataDir: run.dataDir, outDir, steps: run.steps, lr: run.learningRate, resume: run.resume, name: run.name, signal: run.signal, readImageText: run.readImageText, imageTextCache, onImageText: run.onImageText, onPreparing: run.onPreparing,
          onData: (d) => run.onData?.({ samples: d.samples, skipped: d.skipped }),
          onStep: (p) => run.onStep({ step: p.step, totalSteps: p.totalSteps, loss: p.loss, tokensPerSecond: p.tokensPerSecond, etaSeconds: p.etaSeconds }),
        });
        const r = v.result;
        return { name: r.meta.name, path: outDir, steps: r.step, finalLoss: r.losses.length ? r.losses[r.losses.length - 1] : null, cancelled: r.aborted, samples: v.samples, skipped: v.skipped };
      }
      if (!run.docsDir) throw badParams('training needs a docs folder or an image-question data folder');
      const { samples, summary } = buildDocsDataset(run.docsDir, { include: run.include });
      if (samples.length === 0) {
        const matching = run.include ? ` matching ${run.include.join(', ')}` : '';
        throw badParams(`docs folder ${run.docsDir} has no usable sections (${summary.filesScanned} files${matching} scanned; Markdown, reStructuredText or text files with headed sections are used)`);
      }
      const tok = run.model.tokenizer;
      // A GGUF / Hugging Face backbone trains on docs in its own prompt format and tensor types, text
      // only (its images train through --data), over a second opening of its file (frozenWeights.ts).
      const backbone = run.model.info.backbone;
      const ignoreImages = !run.model.info.clip || !!backbone;
      const nVisual = run.model.runtime.cfg.adapter.nVisualTokens;
      const maxSeqLen = run.model.info.maxSeqLen;
      const withText = run.readImageText === false || ignoreImages ? samples : (await addImageText(samples, { tok, nVisual, maxSeqLen, cache: imageTextCache, onProgress: run.onImageText, signal: run.signal })).samples;
      // Image samples keep their whole answer after the read text: the sequence grows to the longest of them.
      const maxWords = Math.min(Math.max(MAX_WORDS, ignoreImages ? 0 : imageSampleWords(withText, tok, nVisual)), maxSeqLen);
      const examples = await prepareExamples(withText, tok, { maxWords, imageSize: run.model.info.clip?.resolution, ignoreImages, family: run.model.family });
      const opened = backbone ? await openBackbone(backbone.path) : undefined;
      try {
        const r = await train({
          weights: opened ? backboneTrainingWeights(opened, { adapters: new Map(run.model.runtime.adapterTensors()), maxSeqLen: run.model.info.maxSeqLen }) : await run.model.loadWeights(),
          samples: examples,
          ...(backbone ? { prefixImage: [], prefixText: [] } : layoutPrefixes(tok)),
          steps: run.steps,
          lr: run.learningRate,
          outDir,
          resume: run.resume,
          name: run.name,
          dataSummary: { docs: run.docsDir, files: summary.filesUsed.length, textSamples: summary.textSamples, imageSamples: summary.imageSamples },
          signal: run.signal,
          onStep: (p) => run.onStep({ step: p.step, totalSteps: p.totalSteps, loss: p.loss, tokensPerSecond: p.tokensPerSecond, etaSeconds: p.etaSeconds }),
        });
        return { name: r.meta.name, path: outDir, steps: r.step, finalLoss: r.losses.length ? r.losses[r.losses.length - 1] : null, cancelled: r.aborted };
      } finally {
        opened?.close();
      }
    },

    previewDocs(docsDir: string, include?: string[]): PreviewTrainingResult {
      // The same call as train() above, so the preview's counts are the samples training gets.
      return summarizeDocsDataset(buildDocsDataset(docsDir, { include }));
    },

    async previewVisionData(dataDir: string): Promise<PreviewVisionDataResult> {
      try {
        return await previewVisionData(dataDir);
      } catch (err) {
        throw badParams((err as Error).message); // no data.json / problems.json, data.json not a list ...
      }
    },
    exportAdapterSet: (name, file, opts) => exportFromStore(storeDir, name, file, opts),
    importAdapterSet: (file, name) => importIntoStore(storeDir, file, name),

    async listAdapterSets(): Promise<AdapterSetInfo[]> {
      if (!fs.existsSync(storeDir)) return [];
      const sets: AdapterSetInfo[] = [];
      for (const entry of fs.readdirSync(storeDir, { withFileTypes: true })) {
        if (!entry.isDirectory() || !fs.existsSync(path.join(storeDir, entry.name, ADAPTER_META_FILE))) continue;
        try {
          const meta = readMeta(path.join(storeDir, entry.name));
          sets.push({ name: entry.name, path: path.join(storeDir, entry.name), steps: meta.step, updated: meta.updatedAt, baseModel: meta.baseModel.name, loss: meta.loss, kind: adapterSetKind(meta), fingerprinted: setFingerprint(meta) !== undefined });
        } catch {
          // A set being written or damaged: not listed, the store's own checks report it on use.
        }
      }
      return sets.sort((a, b) => a.name.localeCompare(b.name));
    },

    async seesImages(name: string, model: LavinModel): Promise<boolean> {
      return setSeesImages(readMeta(setDir(name)), model);
    },

    async adapterFile(name: string, model: LavinModel, onNote?: (note: string) => void): Promise<string> {
      const dir = setDir(name);
      const set = await loadAdapterSet(dir, { optimizer: false });
      checkSetFitsModel(name, set.meta, model.manifest ? baseModelIdentity({ manifest: model.manifest, dir: model.dir }) : backboneIdentityOf(model), onNote);
      const file = path.join(dir, EXPORT_FILE);
      const fresh = fs.existsSync(file) && fs.statSync(file).mtimeMs >= fs.statSync(path.join(dir, ADAPTER_META_FILE)).mtimeMs;
      if (!fresh) exportLavinPth(set, file);
      return file;
    },
  };
}

async function exportFromStore(storeDir: string, name: string, file: string, opts: { overwrite?: boolean }): Promise<ExportAdapterSetResult> {
  const dir = path.join(storeDir, name);
  if (!ADAPTER_SET_NAME.test(name) || !fs.existsSync(path.join(dir, ADAPTER_META_FILE))) throw badParams(`no adapter set named "${name}" in ${storeDir}`);
  try {
    const r = await exportAdapterSet(dir, file, opts);
    return { file: r.file, bytes: r.bytes, kind: r.manifest.kind, fingerprinted: r.manifest.fingerprint !== undefined };
  } catch (err) {
    throw badParams((err as Error).message);
  }
}

async function importIntoStore(storeDir: string, file: string, name?: string): Promise<ImportAdapterSetResult> {
  try {
    const r = await importAdapterSet(file, storeDir, { name });
    return { name: r.name, path: r.dir, kind: r.manifest.kind, baseModel: r.manifest.baseModel.name, steps: r.manifest.training.steps };
  } catch (err) {
    throw badParams((err as Error).message);
  }
}

/** A set trained on another backbone or CLIP is refused (naming both); an old set without a fingerprint passes with a note. */
function checkSetFitsModel(name: string, meta: AdapterSetMeta, current: BaseModelIdentity, onNote?: (note: string) => void): void {
  try {
    const { note } = checkAdapterSetFits(name, meta, current);
    if (note) onNote?.(note);
  } catch (err) {
    throw badParams((err as Error).message);
  }
}

/** Training never silently replaces a set: an existing one is kept unless the caller asked to overwrite it. */
function refuseToReplace(outDir: string, name: string): void {
  if (!fs.existsSync(path.join(outDir, ADAPTER_META_FILE))) return;
  let what = '';
  try {
    const meta = readMeta(outDir);
    what = ` (${meta.step} steps, saved ${meta.updatedAt.slice(0, 16).replace('T', ' ')} UTC)`;
  } catch {
    // A damaged set is still someone's data: refuse all the same.
  }
  throw badParams(`adapter set ${name} already exists in ${outDir}${what}; choose another name, continue it (lavin train --resume) or replace it (lavin train --overwrite)`);
}
