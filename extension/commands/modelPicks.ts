// Quick-pick items for models discovery found (lavin/listModels): what each is, whether it fits,
// and why one cannot be used. No vscode import: the labels are tested as plain functions.

import type { DiscoveredModel } from '../../server/protocol';

export interface ModelPickItem {
  label: string;
  description: string;
  detail: string;
  model: DiscoveredModel;
}

const SOURCE_NAMES: Record<DiscoveredModel['source'], string> = { ollama: 'Ollama', lmstudio: 'LM Studio', huggingface: 'Hugging Face', picked: 'picked' };

export function sizeText(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(0)} MB`;
  return `${(bytes / 1024).toFixed(0)} KB`;
}

export function parametersText(n: number | undefined): string | undefined {
  if (n === undefined) return undefined;
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(0)}M` : `${(n / 1e3).toFixed(0)}K`;
}

export function fitText(m: DiscoveredModel['memory']): string {
  const need = m.needBytes === undefined ? '' : ` (needs ${sizeText(m.needBytes)})`;
  return { yes: `fits in memory${need}`, tight: `fits, but not in the memory free now${need}`, no: `too big for this machine${need}`, unknown: 'memory need unknown' }[m.fits];
}

/** Usable models first (those that fit before those that do not), then the unusable with their reason. */
export function modelPickItems(models: DiscoveredModel[]): ModelPickItem[] {
  const rank = (m: DiscoveredModel) => (m.problem ? 3 : m.memory.fits === 'no' ? 2 : m.memory.fits === 'tight' ? 1 : 0);
  return [...models]
    .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name))
    .map((m) => {
      const facts = [SOURCE_NAMES[m.source], m.architecture, parametersText(m.parameters), m.quantization, sizeText(m.sizeBytes), m.visionTower ? 'vision tower' : undefined].filter(Boolean);
      const icon = m.problem ? '$(warning)' : m.memory.fits === 'no' ? '$(error)' : '$(database)';
      return {
        label: `${icon} ${m.name}`,
        description: facts.join(' · '),
        detail: m.problem ? `cannot be used: ${m.problem}` : `${fitText(m.memory)} — ${m.path}`,
        model: m,
      };
    });
}
