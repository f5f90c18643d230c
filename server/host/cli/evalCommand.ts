// `lavin eval --scienceqa DIR`: the paper's Table 1 columns for one ScienceQA split.

import { evalScienceQa } from './commands';
import { CliCommand, commonFlags, DEVICE_OPTION, MODEL_OPTION, noPositionals, numberOption, OUTPUT_OPTIONS, requiredOption, samplingOptions, SAMPLING_OPTIONS } from './command';
import { UsageError } from './usage';

export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'score a model on ScienceQA: the paper\'s Table 1 columns for one split',
  synopsis: '--scienceqa DIR [--split test] [--limit N] [--greedy] [--unparsed wrong|random] [--image-text] [--model DIR] [sampling flags] [--json]',
  options: {
    scienceqa: { type: 'string', value: 'DIR', help: 'ScienceQA folder (problems.json, pid_splits.json, images/) (required)' },
    split: { type: 'string', value: 'SPLIT', help: 'which split of pid_splits.json', default: 'test', parserDefault: 'test' },
    limit: { type: 'string', value: 'N', help: 'only the first N problems of the split', default: 'all' },
    greedy: { type: 'boolean', help: 'greedy decoding (same as --temperature 0)' },
    unparsed: { type: 'string', value: 'wrong|random', help: 'how to score an answer without "The answer is X.": wrong, or a seeded random guess as the reference does', default: 'wrong', parserDefault: 'wrong' },
    'image-text': { type: 'boolean', help: 'give image problems the text read from their image (OCR) after the hint, as lavin train gives it by default: for adapters trained with it (without it: the paper\'s prompts)' },
    ...MODEL_OPTION,
    ...SAMPLING_OPTIONS,
    // The reference evaluation samples, unlike ask/explain.
    temperature: { ...SAMPLING_OPTIONS.temperature, default: '0.1, the reference evaluation\'s; --greedy for 0' },
    'max-new-tokens': { ...SAMPLING_OPTIONS['max-new-tokens'], default: '64' },
    ...DEVICE_OPTION,
    ...OUTPUT_OPTIONS,
  },
  examples: ['lavin eval --scienceqa ~/data/scienceqa --split test --limit 200 --model ~/lavin-7b'],
  async run({ values, positionals }, ctx) {
    noPositionals(positionals, 'eval', '; use --scienceqa DIR');
    const unparsed = values.unparsed;
    if (unparsed !== 'wrong' && unparsed !== 'random') throw new UsageError(`--unparsed must be wrong or random, got "${String(unparsed)}"`);
    await evalScienceQa(
      { dir: requiredOption(values, 'scienceqa', 'eval'), split: values.split as string, limit: numberOption(values, 'limit', { min: 1, max: 1_000_000, integer: true }), greedy: !!values.greedy, unparsed, imageText: !!values['image-text'], ...samplingOptions(values) },
      commonFlags(values),
      ctx,
    );
  },
};
