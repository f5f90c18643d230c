// What a `lavin` subcommand is: its options (each with the help line and default that `--help`
// prints), an example, and a run function over the parsed values. Each subcommand lives in its own
// <name>Command.ts and is listed once in registry.ts.

import { parseArgs } from 'util';
import { CliContext } from './commands';
import { UsageError } from './usage';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** What the value looks like in help (N, DIR, FILE ...); string options only. */
  value?: string;
  /** One line for people. */
  help: string;
  /** The default as people should read it ("256", "greedy", "the embedded tiny model"); absent: no default worth saying. */
  default?: string;
  /** Parser default (booleans default to false without this). */
  parserDefault?: string | boolean;
}

export type Options = Record<string, OptionSpec>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
}

export interface CliCommand {
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** The synopsis after `lavin <name>`, e.g. `[options] "question"`. */
  synopsis: string;
  options: Options;
  /** Positional arguments explained, e.g. [['"question"', 'what to ask (quote it)']]. */
  positionals?: [string, string][];
  examples: string[];
  /** Extra paragraphs printed after the options. */
  notes?: string[];
  run(args: Parsed, ctx: CliContext): Promise<void>;
}

export const HELP_OPTION: Options = { help: { type: 'boolean', short: 'h', help: 'show this help and exit' } };

/** Parse argv for one command; parser errors become usage errors (exit 2). */
export function parseFor(cmd: CliCommand, args: string[]): Parsed {
  const options: NonNullable<Parameters<typeof parseArgs>[0]>['options'] = {};
  for (const [key, o] of Object.entries({ ...cmd.options, ...HELP_OPTION })) {
    options[key] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.parserDefault !== undefined ? { default: o.parserDefault as string } : o.type === 'boolean' ? { default: false } : {}),
    };
  }
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}

/** `lavin <cmd> --help`: every option with its default, then an example. */
export function helpText(cmd: CliCommand): string {
  const rows: [string, string][] = [];
  for (const [key, o] of Object.entries({ ...cmd.options, ...HELP_OPTION })) {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${key}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${o.multiple ? ' (repeatable)' : ''}`;
    rows.push([flag, o.default !== undefined ? `${o.help} (default: ${o.default})` : o.help]);
  }
  const width = Math.min(30, Math.max(...rows.map(([f]) => f.length), ...(cmd.positionals ?? []).map(([p]) => p.length)) + 2);
  const table = (r: [string, string][]) => r.map(([a, b]) => `  ${a.length + 2 > width ? `${a}\n  ${' '.repeat(width)}` : a.padEnd(width)}${b}`).join('\n');
  const parts = [
    `lavin ${cmd.name}: ${cmd.summary}`,
    `usage: lavin ${cmd.name} ${cmd.synopsis}`,
  ];
  if (cmd.positionals?.length) parts.push(`arguments:\n${table(cmd.positionals)}`);
  parts.push(`options:\n${table(rows)}`);
  if (cmd.notes?.length) parts.push(cmd.notes.join('\n'));
  parts.push(`example${cmd.examples.length > 1 ? 's' : ''}:\n${cmd.examples.map((e) => `  ${e}`).join('\n')}`);
  return parts.join('\n\n') + '\n';
}

// ---- shared option sets and value checks ----------------------------------------------------------

export const DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export type DeviceName = (typeof DEVICES)[number];

export const MODEL_OPTION: Options = {
  model: { type: 'string', value: 'DIR', help: 'model folder (with model.json) to run', default: 'the embedded tiny model, whose random weights answer gibberish' },
};
export const DEVICE_OPTION: Options = {
  device: { type: 'string', value: 'auto|cpu|cuda|webgpu', help: 'where the model runs', default: 'auto: CUDA when available, else CPU' },
};
export const OUTPUT_OPTIONS: Options = {
  json: { type: 'boolean', help: 'print one JSON object per line instead of text (errors: {"event":"error",...})' },
  verbose: { type: 'boolean', help: 'log loading and progress details on stderr' },
};
export const SAMPLING_OPTIONS: Options = {
  'max-new-tokens': { type: 'string', value: 'N', help: 'largest number of tokens in the answer', default: '256' },
  temperature: { type: 'string', value: 'T', help: 'sampling temperature; 0 picks the most likely token every time', default: '0, greedy and deterministic: sampling happens only when --temperature is above 0' },
  'top-p': { type: 'string', value: 'P', help: 'nucleus sampling: keep the smallest set of tokens whose probability adds up to P (used only when --temperature is above 0)', default: '0.75' },
  seed: { type: 'string', value: 'S', help: 'random seed for sampling (used only when --temperature is above 0)', default: '0' },
};

export function numberOption(values: Values, key: string, range: { min: number; max: number; integer?: boolean }): number | undefined {
  const raw = values[key];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || (range.integer && !Number.isInteger(n)) || n < range.min || n > range.max) {
    throw new UsageError(`--${key} must be ${range.integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}, got "${String(raw)}"`);
  }
  return n;
}

export function deviceOption(values: Values): DeviceName | undefined {
  const d = values.device;
  if (d === undefined) return undefined;
  if (typeof d !== 'string' || !(DEVICES as readonly string[]).includes(d)) throw new UsageError(`--device must be auto, cpu, cuda or webgpu, got "${String(d)}"`);
  return d as DeviceName;
}

export function samplingOptions(values: Values) {
  return {
    maxNewTokens: numberOption(values, 'max-new-tokens', { min: 1, max: 100_000, integer: true }),
    temperature: numberOption(values, 'temperature', { min: 0, max: 10 }),
    topP: numberOption(values, 'top-p', { min: 0, max: 1 }),
    seed: numberOption(values, 'seed', { min: 0, max: 2 ** 32 - 1, integer: true }),
  };
}

/** ask and explain: the adapter set for this run, and diagnostics. */
export const ANSWER_OPTIONS: Options = {
  adapters: { type: 'string', value: 'NAME|DIR', help: 'adapter set for this run only: a name from "lavin adapters", a set\'s folder, or none for the model\'s own adapters', default: 'the active set ("lavin adapters --activate"), else the model\'s own adapters' },
  'top-logits': { type: 'string', value: 'N', help: 'diagnostics: print the N highest logits (token id = value) the first answer token was picked from (--json: a "logits" event)' },
};

export function answerOptions(values: Values) {
  return { adapters: stringOption(values, 'adapters'), topLogits: numberOption(values, 'top-logits', { min: 1, max: 1000, integer: true }) };
}

/** --model, --device, --json, --verbose as CommonFlags. */
export function commonFlags(values: Values) {
  return { model: stringOption(values, 'model'), device: deviceOption(values), json: !!values.json, verbose: !!values.verbose };
}

export function stringOption(values: Values, key: string): string | undefined {
  const s = values[key];
  return typeof s === 'string' ? s : undefined;
}

export function requiredOption(values: Values, key: string, command: string): string {
  const s = values[key];
  if (typeof s !== 'string' || s === '') throw new UsageError(`${command} needs --${key}`);
  return s;
}

export function onePositional(positionals: string[], what: string, command: string): string {
  if (positionals.length === 0) throw new UsageError(`${command} needs ${what}`);
  if (positionals.length > 1) throw new UsageError(`${command} takes one ${what}; got ${positionals.length} (quote the question)`);
  return positionals[0];
}

export function noPositionals(positionals: string[], command: string, hint = ''): void {
  if (positionals.length) throw new UsageError(`${command} takes no positional arguments (got "${positionals[0]}")${hint}`);
}
