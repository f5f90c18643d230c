// `lavin explain FILE[:START-END]`: what a piece of code does.

import { explain } from './commands';
import { ANSWER_OPTIONS, answerOptions, CliCommand, commonFlags, DEVICE_OPTION, MODEL_OPTION, onePositional, OUTPUT_OPTIONS, SAMPLING_OPTIONS, samplingOptions } from './command';

export const explainCommand: CliCommand = {
  name: 'explain',
  summary: 'explain a source file or a range of its lines (the answer streams to stdout)',
  synopsis: '[--model DIR] [--adapters NAME|DIR] [sampling flags] [--json] FILE[:START-END]',
  positionals: [['FILE[:START-END]', 'a text file, optionally with a 1-based inclusive line range (FILE:N for one line)']],
  options: { ...MODEL_OPTION, ...ANSWER_OPTIONS, ...SAMPLING_OPTIONS, ...DEVICE_OPTION, ...OUTPUT_OPTIONS },
  examples: ['lavin explain server/cli.ts:20-40'],
  async run({ values, positionals }, ctx) {
    await explain(onePositional(positionals, 'a FILE[:START-END]', 'explain'), { ...commonFlags(values), ...samplingOptions(values), ...answerOptions(values) }, ctx);
  },
};
