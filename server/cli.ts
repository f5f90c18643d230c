// `lavin`: the command line over the same model host the language server uses.

import { parseArgs } from 'util';
import * as C from './host/cli/commands';
import { CliOutput } from './host/cli/output';
import { OCR_OPTIONS, OCR_USAGE, runOcr } from './host/cli/ocrCommand';
import { USAGE, UsageError } from './host/cli/usage';
import { disableNetwork } from './host/noNetwork';
import { nodeTrainingPort } from './host/trainingPort';
import { serveStdio } from './host/lsp/stdio';
import { PrecisionName } from './protocol';

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

const COMMON: Options = {
  model: { type: 'string' },
  device: { type: 'string' },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};
const SAMPLING: Options = {
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
};

function number(values: Record<string, unknown>, key: string, range: { min: number; max: number; integer?: boolean }): number | undefined {
  const raw = values[key];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || (range.integer && !Number.isInteger(n)) || n < range.min || n > range.max) {
    throw new UsageError(`--${key} must be ${range.integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}, got "${String(raw)}"`);
  }
  return n;
}

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}

const DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;

function deviceFrom(v: Values): (typeof DEVICES)[number] | undefined {
  const d = v.device;
  if (d === undefined) return undefined;
  if (typeof d !== 'string' || !(DEVICES as readonly string[]).includes(d)) throw new UsageError(`--device must be auto, cpu, cuda or webgpu, got "${String(d)}"`);
  return d as (typeof DEVICES)[number];
}

function samplingFrom(v: Record<string, unknown>) {
  return {
    maxNewTokens: number(v, 'max-new-tokens', { min: 1, max: 100_000, integer: true }),
    temperature: number(v, 'temperature', { min: 0, max: 10 }),
    topP: number(v, 'top-p', { min: 0, max: 1 }),
    seed: number(v, 'seed', { min: 0, max: 2 ** 32 - 1, integer: true }),
  };
}

function required(v: Record<string, unknown>, key: string, command: string): string {
  const s = v[key];
  if (typeof s !== 'string' || s === '') throw new UsageError(`${command} needs --${key}`);
  return s;
}

function onePositional(positionals: string[], what: string, command: string): string {
  if (positionals.length === 0) throw new UsageError(`${command} needs ${what}`);
  if (positionals.length > 1) throw new UsageError(`${command} takes one ${what}; got ${positionals.length} (quote the question)`);
  return positionals[0];
}

/** Runs a command line; resolves to the exit code. */
export async function main(argv: string[], signal: AbortSignal = new AbortController().signal): Promise<number> {
  disableNetwork();
  const [command, ...rest] = argv;
  const jsonRequested = rest.includes('--json');
  const out = new CliOutput(jsonRequested);
  const ctx = { out, signal, training: nodeTrainingPort() };
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      case 'ask': {
        const { values: v, positionals } = parse(rest, { ...COMMON, ...SAMPLING, image: { type: 'string' } });
        if (v.help) return help();
        const flags = { model: v.model as string | undefined, device: deviceFrom(v), json: !!v.json, verbose: !!v.verbose, ...samplingFrom(v) };
        await C.ask(onePositional(positionals, 'a question', 'ask'), v.image as string | undefined, flags, ctx);
        return finished(signal);
      }
      case 'explain': {
        const { values: v, positionals } = parse(rest, { ...COMMON, ...SAMPLING });
        if (v.help) return help();
        const flags = { model: v.model as string | undefined, device: deviceFrom(v), json: !!v.json, verbose: !!v.verbose, ...samplingFrom(v) };
        await C.explain(onePositional(positionals, 'a FILE[:START-END]', 'explain'), flags, ctx);
        return finished(signal);
      }
      case 'train': {
        const { values: v, positionals } = parse(rest, { ...COMMON, docs: { type: 'string' }, steps: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' }, resume: { type: 'boolean', default: false }, include: { type: 'string', multiple: true }, 'dry-run': { type: 'boolean', default: false } });
        if (v.help) return help();
        if (positionals.length) throw new UsageError(`train takes no positional arguments (got "${positionals[0]}"); use --docs DIR`);
        const include = (v as Record<string, unknown>).include as string[] | undefined;
        await C.train(
          { docs: required(v, 'docs', 'train'), steps: number(v, 'steps', { min: 1, max: 1_000_000, integer: true }), out: v.out as string | undefined, resume: !!v.resume, name: v.name as string | undefined, include, dryRun: !!v['dry-run'] },
          { model: v.model as string | undefined, device: deviceFrom(v), json: !!v.json, verbose: !!v.verbose },
          ctx,
        );
        return finished(signal);
      }
      case 'convert': {
        const { values: v, positionals } = parse(rest, {
          ...COMMON, llama: { type: 'string' }, clip: { type: 'string' }, adapter: { type: 'string' }, tokenizer: { type: 'string' },
          precision: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' }, copy: { type: 'boolean', default: false }, 'clip-heads': { type: 'string' },
        });
        if (v.help) return help();
        if (positionals.length) throw new UsageError(`convert takes no positional arguments (got "${positionals[0]}")`);
        const precision = v.precision as string | undefined;
        if (precision !== undefined && !['fp32', 'fp16', 'int8', 'int4'].includes(precision)) throw new UsageError(`--precision must be fp32, fp16, int8 or int4, got "${precision}"`);
        await C.convert({
          llama: required(v, 'llama', 'convert'), clip: required(v, 'clip', 'convert'), adapter: required(v, 'adapter', 'convert'),
          tokenizer: v.tokenizer as string | undefined, precision: precision as PrecisionName | undefined, out: required(v, 'out', 'convert'),
          name: v.name as string | undefined, copy: !!v.copy, clipHeads: number(v, 'clip-heads', { min: 1, max: 256, integer: true }),
        }, { json: !!v.json, verbose: !!v.verbose }, ctx);
        return finished(signal);
      }
      case 'eval': {
        const { values: v, positionals } = parse(rest, { ...COMMON, ...SAMPLING, scienceqa: { type: 'string' }, split: { type: 'string', default: 'test' }, limit: { type: 'string' }, greedy: { type: 'boolean', default: false }, unparsed: { type: 'string', default: 'wrong' } });
        if (v.help) return help();
        if (positionals.length) throw new UsageError(`eval takes no positional arguments (got "${positionals[0]}"); use --scienceqa DIR`);
        if (v.unparsed !== 'wrong' && v.unparsed !== 'random') throw new UsageError(`--unparsed must be wrong or random, got "${String(v.unparsed)}"`);
        await C.evalScienceQa(
          { dir: required(v, 'scienceqa', 'eval'), split: v.split as string, limit: number(v, 'limit', { min: 1, max: 1_000_000, integer: true }), greedy: !!v.greedy, unparsed: v.unparsed, ...samplingFrom(v) },
          { model: v.model as string | undefined, device: deviceFrom(v), json: !!v.json, verbose: !!v.verbose },
          ctx,
        );
        return finished(signal);
      }
      case 'ocr': {
        const { values: v, positionals } = parse(rest, OCR_OPTIONS);
        if (v.help) return process.stdout.write(OCR_USAGE), 0;
        await runOcr(onePositional(positionals, 'an image FILE', 'ocr'), ctx);
        return finished(signal);
      }
      case 'serve': {
        const { values: v } = parse(rest, { stdio: { type: 'boolean', default: false } });
        if (!v.stdio) throw new UsageError('serve needs --stdio (the only transport)');
        serveStdio();
        return await new Promise<number>(() => {});
      }
      default:
        throw new UsageError(`unknown command "${command}" (commands: ask, explain, train, convert, eval, ocr, serve)`);
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    out.error(message);
    if (err instanceof UsageError) {
      if (!jsonRequested) process.stderr.write('run "lavin --help" for usage\n');
      return 2;
    }
    return signal.aborted ? 130 : 1;
  }
}

/** Interrupted work that stopped cleanly (partial answer shown, checkpoint saved) still exits 130. */
function finished(signal: AbortSignal): number {
  return signal.aborted ? 130 : 0;
}

function help(): number {
  process.stdout.write(USAGE);
  return 0;
}

// Normally started through bin/lavin.js; this lets `node out/server/cli.js ...` work too.
if (require.main === module) {
  const ac = new AbortController();
  process.on('SIGINT', () => (ac.signal.aborted ? process.exit(130) : ac.abort()));
  void main(process.argv.slice(2), ac.signal).then((code) => process.stdout.write('', () => process.exit(code)));
}
