// Vision training over a GGUF / Hugging Face backbone and the CLIP it was given: the frozen weights
// as stored in the file (quantised blocks kept, embedding rows read from it: frozenWeights.ts), the
// CLIP tower with fresh CLIP adapters and a visual projection sized to the backbone, and the identity
// (content fingerprints of backbone and CLIP, adapterStore.ts) the set records and is checked against.

import type { LavinModel } from '../engine/lavinModel';
import { clipConfigOf, clipParams, freshVisionAdapters, loadBackboneClip } from '../engine/backboneModel';
import { openBackbone } from '../engine/weights/backbone';
import { adapterSetKind, backboneIdentity, type AdapterSetMeta, type BaseModelIdentity } from './adapterStore';
import { backboneTrainingWeights, type TrainingWeights } from './frozenWeights';

/** What a set trained on this backbone (and its CLIP) records as its base model. */
export function backboneIdentityOf(model: LavinModel): BaseModelIdentity {
  const b = model.info.backbone;
  if (!b) throw new Error(`${model.info.name} is a LaVIN model folder, not a GGUF / Hugging Face backbone`);
  return backboneIdentity(model.info.name, { backbone: b.path, ...(model.clipFile ? { clip: model.clipFile } : {}) });
}

/** A set trained on images with this very CLIP: its visual tokens may be fed (the backbone is checked by checkAdapterSetFits). */
export function setSeesImages(meta: Pick<AdapterSetMeta, 'kind' | 'data' | 'baseModel'>, model: LavinModel): boolean {
  const clip = meta.baseModel.fingerprint?.clip;
  return adapterSetKind(meta) === 'vision' && clip !== undefined && model.clipFile !== undefined && clip === backboneIdentityOf(model).fingerprint?.clip;
}

/**
 * The training weights of a loaded backbone model with its CLIP, starting from the adapters it runs
 * now. `close` releases the backbone file once training is over.
 */
export async function openBackboneTraining(model: LavinModel): Promise<{ weights: TrainingWeights; close: () => void }> {
  const b = model.info.backbone;
  if (!b) throw new Error(`${model.info.name} is a LaVIN model folder, not a GGUF / Hugging Face backbone`);
  if (!model.clipFile) throw new Error(`vision training on the backbone ${model.info.name} needs its CLIP: give --clip PATH (a Hugging Face CLIP folder or safetensors, an OpenAI .pt, or a LLaVA mmproj .gguf)`);
  const clip = await loadBackboneClip(model.clipFile);
  const baseModel = backboneIdentityOf(model);
  const opened = await openBackbone(b.path);
  try {
    const vision = new Map([...clipParams(clip), ...freshVisionAdapters(clip.config, opened.spec.llama.dim)]);
    const weights = backboneTrainingWeights(opened, {
      clip: { cfg: clipConfigOf(clip), tensors: vision }, adapters: new Map(model.runtime.adapterTensors()), maxSeqLen: model.runtime.cfg.maxSeqLen, baseModel,
    });
    return { weights, close: () => opened.close() };
  } catch (e) {
    opened.close();
    throw e;
  }
}
