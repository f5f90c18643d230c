// `lavin ask`: a question, optionally about an image, answered on stdout.

import { ask } from './commands';
import { ANSWER_OPTIONS, answerOptions, CliCommand, commonFlags, DEVICE_OPTION, MODEL_OPTION, onePositional, OUTPUT_OPTIONS, SAMPLING_OPTIONS, samplingOptions, stringOption } from './command';

export const askCommand: CliCommand = {
  name: 'ask',
  summary: 'answer a question, optionally about an image (the answer streams to stdout)',
  synopsis: '[--model DIR] [--image FILE] [--adapters NAME|DIR] [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S] [--json] "question"',
  positionals: [['"question"', 'what to ask (quote it: one argument)']],
  options: {
    ...MODEL_OPTION,
    image: { type: 'string', value: 'FILE', help: 'PNG, JPEG or WebP image to ask about', default: 'none: a text-only question' },
    ...ANSWER_OPTIONS,
    ...SAMPLING_OPTIONS,
    ...DEVICE_OPTION,
    ...OUTPUT_OPTIONS,
  },
  examples: ['lavin ask --image media/examples/settings-dialog.png "What does this dialog say is wrong?"', 'lavin ask --adapters docs "How do I install it?"'],
  async run({ values, positionals }, ctx) {
    const question = onePositional(positionals, 'a question', 'ask');
    await ask(question, stringOption(values, 'image'), { ...commonFlags(values), ...samplingOptions(values), ...answerOptions(values) }, ctx);
  },
};
