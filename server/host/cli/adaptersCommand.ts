// `lavin adapters`: the adapter sets `lavin train` saved, and which one ask/explain use by default.

import { defaultAdapterSetsDir } from '../trainingPort';
import { activeAdapterSet, setActiveAdapterSet, storeSet } from './adapterSets';
import { CliCommand, noPositionals, OUTPUT_OPTIONS, stringOption } from './command';

export const adaptersCommand: CliCommand = {
  name: 'adapters',
  summary: 'list the fine-tuned adapter sets (name, base model, steps, loss, date) and which is active',
  synopsis: '[--activate NAME|none] [--json]',
  options: {
    activate: { type: 'string', value: 'NAME|none', help: 'make NAME the set lavin ask/explain use when --adapters is not given; none: the model\'s own adapters again' },
    ...OUTPUT_OPTIONS,
  },
  notes: [
    'Sets live in ~/.lavin/adapter-sets ($LAVIN_HOME/adapter-sets). VS Code keeps its own sets and its own choice (LaVIN: Select Adapter Set).',
  ],
  examples: ['lavin adapters', 'lavin adapters --activate docs', 'lavin ask --adapters none "the same question without the fine-tuned set"'],
  async run({ values, positionals }, ctx) {
    noPositionals(positionals, 'adapters', '; use --activate NAME');
    const activate = stringOption(values, 'activate');
    if (activate !== undefined) {
      if (activate !== 'none') storeSet(activate); // exists, or a clear error listing what does
      setActiveAdapterSet(activate === 'none' ? null : activate);
      ctx.out.info(activate === 'none' ? 'no adapter set is active: ask and explain use the model\'s own adapters' : `adapter set ${activate} is active: ask and explain use it unless --adapters is given`);
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
