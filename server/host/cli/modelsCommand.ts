// `lavin models [--json] [PATH...]`: the models already on disk (Ollama's store, LM Studio's models
// folder, the Hugging Face hub cache, and any GGUF file or folder named on the command line), with
// architecture, parameters, quantisation, size, whether they fit in memory, and why one cannot be used.
// Shaped as a CliCommand (options with help lines, examples, run) for the command registry.

import { discoverModels } from '../models';
import type { DiscoveredModel, ListModelsResult } from '../../protocol';
import type { CliContext } from './commands';

type Values = Record<string, string | boolean | string[] | undefined>;

export const modelsCommand = {
  name: 'models',
  summary: 'list the models already on disk (Ollama, LM Studio, Hugging Face cache, paths you name); downloads nothing',
  synopsis: '[--json] [--ollama DIR]... [--lmstudio DIR]... [--hf-cache DIR]... [PATH...]',
  options: {
    json: { type: 'boolean' as const, help: 'print one line {"event":"models","models":[...],"searched":[...]}: every model with name, source, format, path, architecture, parameters, quantization, sizeBytes, memory {fits, needBytes, message}, problem when it cannot be used' },
    ollama: { type: 'string' as const, multiple: true, value: 'DIR', help: 'an Ollama store to scan instead of the default', default: '$OLLAMA_MODELS, else ~/.ollama/models and /usr/share/ollama/.ollama/models' },
    lmstudio: { type: 'string' as const, multiple: true, value: 'DIR', help: 'an LM Studio models folder to scan instead of the default', default: '$LAVIN_LMSTUDIO_MODELS, else LM Studio\'s downloadsFolder, ~/.lmstudio/models, ~/.cache/lm-studio/models' },
    'hf-cache': { type: 'string' as const, multiple: true, value: 'DIR', help: 'a Hugging Face hub cache to scan instead of the default', default: '$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub' },
    verbose: { type: 'boolean' as const, help: 'also list every place searched, and what stopped a scan short' },
  },
  positionals: [['PATH', 'a GGUF file, a Hugging Face folder, a model folder (model.json), or a folder of GGUF files']] as [string, string][],
  examples: ['lavin models', 'lavin models --json ~/Downloads/qwen2.5-0.5b-instruct-q8_0.gguf'],
  notes: ['Pass a listed PATH to --model (or set lavin.modelFolder to it). Models that cannot be used are listed with the reason.'],
  async run({ values, positionals }: { values: Values; positionals: string[] }, ctx: CliContext): Promise<void> {
    const list = (key: string) => (Array.isArray(values[key]) ? (values[key] as string[]) : undefined);
    const result = await discoverModels({ ollama: list('ollama'), lmStudio: list('lmstudio'), huggingFace: list('hf-cache'), paths: positionals });
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

/** `lavin models --help`. */
export function modelsHelp(): string {
  const rows = Object.entries(modelsCommand.options).map(([k, o]) => {
    const flag = `--${k}${o.type === 'string' ? ` ${(o as { value?: string }).value}` : ''}${(o as { multiple?: boolean }).multiple ? ' (repeatable)' : ''}`;
    const d = (o as { default?: string }).default;
    return `  ${flag.padEnd(30)}${o.help}${d ? ` (default: ${d})` : ''}`;
  });
  return [
    `lavin models: ${modelsCommand.summary}`,
    `usage: lavin models ${modelsCommand.synopsis}`,
    `arguments:\n${modelsCommand.positionals.map(([p, h]) => `  ${p.padEnd(30)}${h}`).join('\n')}`,
    `options:\n${rows.join('\n')}`,
    ...modelsCommand.notes,
    `examples:\n${modelsCommand.examples.map((e) => `  ${e}`).join('\n')}`,
  ].join('\n\n') + '\n';
}
