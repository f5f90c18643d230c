// `lavin adapters`: the adapter sets `lavin train` saved, and which one ask/explain use by default;
// a set exported to one .safetensors file (train/adapterExport.ts) and imported on another machine.

import { readMeta, setFingerprint } from '../../train';
import { defaultAdapterSetsDir } from '../trainingPort';
import { activeAdapterSet, exportSet, importSet, setActiveAdapterSet, storeSet } from './adapterSets';
import { CliCommand, noPositionals, OUTPUT_OPTIONS, stringOption, Values } from './command';
import { CliContext } from './commands';
import { UsageError } from './usage';

export const adaptersCommand: CliCommand = {
  name: 'adapters',
  summary: 'list the fine-tuned adapter sets (name, base model, steps, loss, date) and which is active; export or import one as a .safetensors file',
  synopsis: '[--activate NAME|none | --export NAME|DIR --out FILE.safetensors | --import FILE [--name NAME]] [--json]',
  options: {
    activate: { type: 'string', value: 'NAME|none', help: 'make NAME the set lavin ask/explain use when --adapters is not given; none: the model\'s own adapters again' },
    export: { type: 'string', value: 'NAME|DIR', help: 'write the set to one .safetensors file (tensors + manifest: name, kind, model fingerprint, shape, training summary); needs --out' },
    out: { type: 'string', value: 'FILE', help: 'the file --export writes (an existing file is never replaced)' },
    import: { type: 'string', value: 'FILE', help: 'add an exported set to the store (an existing set is never replaced)' },
    name: { type: 'string', value: 'NAME', help: 'the name --import gives the set', default: 'the name in the file' },
    ...OUTPUT_OPTIONS,
  },
  notes: [
    'Sets live in ~/.lavin/adapter-sets ($LAVIN_HOME/adapter-sets). VS Code keeps its own sets and its own choice (LaVIN: Select Adapter Set).',
  ],
  examples: [
    'lavin adapters', 'lavin adapters --activate docs', 'lavin ask --adapters none "the same question without the fine-tuned set"',
    'lavin adapters --export docs --out docs.safetensors', 'lavin adapters --import docs.safetensors --name docs-from-laptop',
  ],
  async run({ values, positionals }, ctx) {
    noPositionals(positionals, 'adapters', '; use --activate NAME, --export NAME or --import FILE');
    if (await moveSet(values, ctx)) return;
    const activate = stringOption(values, 'activate');
    if (activate !== undefined) {
      const dir = activate === 'none' ? null : storeSet(activate); // exists, or a clear error listing what does
      setActiveAdapterSet(activate === 'none' ? null : activate);
      ctx.out.info(activate === 'none' ? 'no adapter set is active: ask and explain use the model\'s own adapters' : `adapter set ${activate} is active: ask and explain use it unless --adapters is given`);
      if (dir && !setFingerprint(readMeta(dir))) ctx.out.info(`note: ${activate} was saved before adapter sets recorded the model's fingerprint: only the backbone's file names and sizes are checked when it is used`);
    }
    if (!ctx.training) throw new Error('adapter sets need the trainer, which is not available in this build');
    const store = defaultAdapterSetsDir();
    const active = activeAdapterSet();
    const sets = (await ctx.training.listAdapterSets()).map((s) => ({ ...s, active: s.name === active }));
    ctx.out.event({ event: 'adapters', store, active, sets });
    if (sets.length === 0) {
      ctx.out.text(`no adapter sets in ${store} yet: make one with lavin train --docs DIR --name NAME\n`);
      return;
    }
    const rows = [['', 'NAME', 'BASE MODEL', 'STEPS', 'LOSS', 'SAVED'], ...sets.map((s) => [
      s.active ? '*' : ' ', s.name, s.baseModel ?? '?', String(s.steps), s.loss === undefined ? '-' : s.loss.toFixed(4), `${s.updated.slice(0, 16).replace('T', ' ')} UTC`,
    ])];
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    const right = new Set([3, 4]);
    for (const r of rows) ctx.out.text(r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd() + '\n');
    ctx.out.info(active && sets.some((s) => s.active)
      ? `* active: lavin ask/explain use ${active} unless --adapters is given (store: ${store})`
      : `none active: lavin ask/explain use the model's own adapters unless --adapters is given (store: ${store})`);
  },
};

/** --export / --import: one of them (they end the command), or neither (false). */
async function moveSet(values: Values, ctx: CliContext): Promise<boolean> {
  const exp = stringOption(values, 'export');
  const imp = stringOption(values, 'import');
  const out = stringOption(values, 'out');
  const name = stringOption(values, 'name');
  const actions = [exp !== undefined && '--export', imp !== undefined && '--import', stringOption(values, 'activate') !== undefined && '--activate'].filter(Boolean);
  if (actions.length > 1) throw new UsageError(`${actions.join(' and ')} cannot be combined: give one`);
  if (out !== undefined && exp === undefined) throw new UsageError('--out goes with --export NAME');
  if (name !== undefined && imp === undefined) throw new UsageError('--name goes with --import FILE');
  if (exp !== undefined) {
    if (out === undefined) throw new UsageError('--export needs --out FILE.safetensors');
    const r = await exportSet(exp, out);
    ctx.out.event({ event: 'exported', name: r.manifest.name, file: r.file, bytes: r.bytes, kind: r.manifest.kind, baseModel: r.manifest.baseModel.name, fingerprint: r.manifest.fingerprint ?? null });
    ctx.out.info(`adapter set ${r.manifest.name} (${r.manifest.kind}, ${r.manifest.shape.parameters} parameters, trained on ${r.manifest.baseModel.name}) exported to ${r.file} (${r.bytes} bytes)${r.manifest.fingerprint ? '' : '; it has no model fingerprint (trained before they were recorded)'}`);
    return true;
  }
  if (imp !== undefined) {
    const r = await importSet(imp, name);
    ctx.out.event({ event: 'imported', name: r.name, path: r.dir, kind: r.manifest.kind, baseModel: r.manifest.baseModel.name, steps: r.manifest.training.steps, fingerprint: r.manifest.fingerprint ?? null });
    ctx.out.info(`adapter set ${r.name} imported into ${r.dir} (${r.manifest.kind}, ${r.manifest.training.steps} steps, trained on ${r.manifest.baseModel.name}); lavin ask --adapters ${r.name} uses it, lavin adapters --activate ${r.name} makes it the default`);
    return true;
  }
  return false;
}
