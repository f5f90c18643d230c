// `lavin ask`: a question, optionally about an image, answered on stdout.

import { ask } from './commands';
import { ANSWER_OPTIONS, answerOptions, CliCommand, commonFlags, DEVICE_OPTION, MODEL_OPTION, onePositional, OUTPUT_OPTIONS, SAMPLING_OPTIONS, samplingOptions, stringOption } from './command';

export const askCommand: CliCommand = {
  name: 'ask',
  summary: 'answer a question, optionally about an image (the answer streams to stdout)',
  synopsis: '[--model DIR|FILE.gguf] [--clip PATH] [--image FILE] [--raw] [--adapters NAME|DIR] [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S] [--json] "question"',
  positionals: [['"question"', 'what to ask (quote it: one argument)']],
  options: {
    ...MODEL_OPTION,
    clip: { type: 'string', value: 'PATH', help: 'CLIP for a GGUF / Hugging Face backbone: a Hugging Face CLIP folder or .safetensors, an OpenAI .pt, or a LLaVA mmproj .gguf (images are used once a vision adapter set is trained for this backbone and CLIP)', default: 'the mmproj*.gguf beside the GGUF file, or its Ollama projector layer; none otherwise' },
    image: { type: 'string', value: 'FILE', help: 'PNG, JPEG or WebP image to ask about', default: 'none: a text-only question' },
    raw: { type: 'boolean', help: 'the text is the whole prompt, tokenised exactly as llama.cpp does for the model file (no chat template, no instruction wrapper)' },
    ...ANSWER_OPTIONS,
    ...SAMPLING_OPTIONS,
    ...DEVICE_OPTION,
    ...OUTPUT_OPTIONS,
  },
  examples: ['lavin ask --image media/examples/settings-dialog.png "What does this dialog say is wrong?"', 'lavin ask --adapters docs "How do I install it?"', 'lavin ask --model ~/models/llama-3.2-1b-q4_k_m.gguf --raw --temperature 0 --max-new-tokens 16 --json "The capital of France is"'],
  async run({ values, positionals }, ctx) {
    const question = onePositional(positionals, 'a question', 'ask');
    await ask(question, stringOption(values, 'image'), { ...commonFlags(values), clip: stringOption(values, 'clip'), ...samplingOptions(values), ...answerOptions(values), raw: values.raw === true }, ctx);
  },
};
