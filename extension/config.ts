// The `lavin.*` settings, read in one place with their defaults.

import * as vscode from 'vscode';
import type { DevicePreference, PrecisionName } from '../server/protocol';

export interface LavinConfig {
  /** Model folder with model.json; '' = the embedded model shipped with the extension. */
  modelFolder: string;
  device: DevicePreference;
  /** 'auto' = what the model folder says. */
  precision: PrecisionName | 'auto';
  maxNewTokens: number;
  temperature: number;
  topP: number;
  docsGlobs: string[];
  /** Seconds before a chat request is abandoned (0 = never). */
  requestTimeout: number;
  /** Name of the adapter set to activate on start; '' = the model folder's own adapters. */
  adapterSet: string;
  /** int8/int4 on the CPU: keep onnxruntime's repacked weights beside the model (faster starts). */
  savePackedWeights: boolean;
  /** Image questions: read the image's text (OCR) and give it to the model as context. */
  readImageText: boolean;
  /** A GGUF / Hugging Face backbone's CLIP; '' = the mmproj stored with it (beside the GGUF, Ollama's projector layer), if any. */
  clipFile: string;
}

export const SECTION = 'lavin';

export function readConfig(): LavinConfig {
  const c = vscode.workspace.getConfiguration(SECTION);
  return {
    modelFolder: c.get<string>('modelFolder', ''),
    device: c.get<DevicePreference>('device', 'auto'),
    precision: c.get<PrecisionName | 'auto'>('precision', 'auto'),
    maxNewTokens: c.get<number>('maxNewTokens', 256),
    temperature: c.get<number>('temperature', 0),
    topP: c.get<number>('topP', 0.75),
    docsGlobs: c.get<string[]>('docsGlobs', ['**/*.md', '**/*.txt']),
    requestTimeout: c.get<number>('requestTimeout', 300),
    adapterSet: c.get<string>('adapterSet', ''),
    savePackedWeights: c.get<boolean>('savePackedWeights', true),
    readImageText: c.get<boolean>('readImageText', true),
    clipFile: c.get<string>('clipFile', ''),
  };
}

/** Settings that need the backend restarted (the model is loaded with them). */
export function affectsBackend(e: vscode.ConfigurationChangeEvent): boolean {
  return ['modelFolder', 'clipFile', 'device', 'precision', 'savePackedWeights'].some((k) => e.affectsConfiguration(`${SECTION}.${k}`));
}

export function samplingFrom(c: LavinConfig) {
  return { maxNewTokens: c.maxNewTokens, temperature: c.temperature, topP: c.topP };
}
