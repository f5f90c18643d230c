// `lavin models [--json] [PATH...]`: the models already on disk (Ollama's store, LM Studio's models
// folder, the Hugging Face hub cache, and any GGUF file or folder named on the command line), with
// architecture, parameters, quantisation, size, whether they fit in memory, and why one cannot be used.

import { discoverModels } from '../models';
import type { DiscoveredModel, ListModelsResult } from '../../protocol';
import { CliCommand, Values } from './command';

const paths = (values: Values, key: string) => (Array.isArray(values[key]) ? (values[key] as string[]) : undefined);

export const modelsCommand: CliCommand = {
  name: 'models',
  summary: 'list the models already on disk (Ollama, LM Studio, Hugging Face cache); downloads nothing',
  synopsis: '[--json] [--ollama DIR]... [--lmstudio DIR]... [--hf-cache DIR]... [PATH...]',
  options: {
    json: { type: 'boolean', help: 'print one line {"event":"models","models":[...],"searched":[...]}: every model with name, source, format, path, architecture, parameters, quantization, sizeBytes, contextLength, visionTower, memory {fits: yes|tight|no|unknown, needBytes, message}, and problem (one line) when it cannot be used' },
    ollama: { type: 'string', multiple: true, value: 'DIR', help: 'an Ollama store to scan instead of the default', default: '$OLLAMA_MODELS, else ~/.ollama/models and /usr/share/ollama/.ollama/models' },
    lmstudio: { type: 'string', multiple: true, value: 'DIR', help: 'an LM Studio models folder to scan instead of the default', default: '$LAVIN_LMSTUDIO_MODELS, else LM Studio\'s downloadsFolder, ~/.lmstudio/models, ~/.cache/lm-studio/models' },
    'hf-cache': { type: 'string', multiple: true, value: 'DIR', help: 'a Hugging Face hub cache to scan instead of the default', default: '$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub' },
    verbose: { type: 'boolean', help: 'also list the places searched that do not exist' },
  },
  positionals: [['PATH', 'a GGUF file, a Hugging Face folder, a model folder (model.json), or a folder of GGUF files']],
  examples: ['lavin models', 'lavin models --json ~/Downloads/qwen2.5-0.5b-instruct-q8_0.gguf', 'lavin models --ollama /srv/ollama/models --lmstudio /data/lmstudio'],
  notes: ['The PATH column is what --model (and the lavin.modelFolder setting) takes. Models that cannot be used are listed after the table, each with its reason.'],
  async run({ values, positionals }, ctx) {
    const result = await discoverModels({ ollama: paths(values, 'ollama'), lmStudio: paths(values, 'lmstudio'), huggingFace: paths(values, 'hf-cache'), paths: positionals });
    if (ctx.out.json) {
      ctx.out.event({ event: 'models', models: result.models, searched: result.searched });
      return;
    }
    process.stdout.write(formatModels(result, !!values.verbose));
  },
};

const GB = 2 ** 30;

export function formatSize(bytes: number): string {
  if (bytes >= GB) return `${(bytes / GB).toFixed(1)} GB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(0)} MB`;
  return `${(bytes / 1024).toFixed(0)} KB`;
}

export function formatParameters(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)}M`;
  return `${(n / 1e3).toFixed(0)}K`;
}

export function formatFit(m: DiscoveredModel['memory']): string {
  const need = m.needBytes === undefined ? '' : ` (${formatSize(m.needBytes)})`;
  return { yes: `fits${need}`, tight: `tight${need}`, no: `too big${need}`, unknown: '?' }[m.fits];
}

/** The table for people: usable models first, then the ones that cannot be used, each with its reason. */
export function formatModels(result: ListModelsResult, verbose = false): string {
  const lines: string[] = [];
  const usable = result.models.filter((m) => !m.problem);
  const broken = result.models.filter((m) => m.problem);
  if (usable.length) {
    const rows = usable.map((m) => [m.name, m.source, m.architecture ?? '-', formatParameters(m.parameters), m.quantization ?? '-', formatSize(m.sizeBytes), formatFit(m.memory), m.path]);
    const head = ['NAME', 'SOURCE', 'ARCH', 'PARAMS', 'QUANT', 'SIZE', 'MEMORY', 'PATH (for --model)'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [head, ...rows]) lines.push(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
    for (const m of usable) for (const n of m.notes ?? []) lines.push(`note: ${m.name}: ${n}`);
  } else lines.push('No usable models found.');
  if (broken.length) {
    lines.push('', 'Cannot be used:');
    for (const m of broken) lines.push(`  ${m.name} (${m.source}${m.architecture ? `, ${m.architecture}` : ''}): ${m.problem}`);
  }
  const searched = verbose ? result.searched : result.searched.filter((s) => s.exists);
  if (searched.length) {
    lines.push('', 'Searched:');
    for (const s of searched) lines.push(`  ${s.source} ${s.root}${s.exists ? '' : ' (not there)'}${s.note ? `: ${s.note}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
