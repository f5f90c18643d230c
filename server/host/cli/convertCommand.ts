// `lavin convert`: LLaMA + CLIP + LaVIN adapter files -> one model folder.

import { PrecisionName } from '../../protocol';
import { convert } from './commands';
import { CliCommand, noPositionals, numberOption, OUTPUT_OPTIONS, requiredOption, stringOption } from './command';
import { UsageError } from './usage';

const PRECISIONS = ['fp32', 'fp16', 'int8', 'int4'];

export const convertCommand: CliCommand = {
  name: 'convert',
  summary: 'make a model folder (model.json) from LLaMA, CLIP and LaVIN adapter files',
  synopsis: '--llama DIR --clip FILE --adapter FILE [--tokenizer FILE] [--clip-heads N] [--precision fp32|fp16|int8|int4] [--copy] [--name NAME] --out DIR [--json]',
  options: {
    llama: { type: 'string', value: 'DIR', help: 'Meta LLaMA-1 checkpoint folder (params.json, consolidated.NN.pth) (required)' },
    clip: { type: 'string', value: 'FILE', help: 'CLIP ViT-L/14: OpenAI ViT-L-14.pt or a Hugging Face safetensors file (required)' },
    adapter: { type: 'string', value: 'FILE', help: 'LaVIN adapter checkpoint (.pth from the official trainer) (required)' },
    tokenizer: { type: 'string', value: 'FILE', help: 'tokenizer.model', default: 'tokenizer.model in or beside the --llama folder' },
    'clip-heads': { type: 'string', value: 'N', help: 'attention heads of the CLIP ViT when the file does not say', default: 'config.json beside the CLIP file, else width / 64' },
    precision: { type: 'string', value: 'fp32|fp16|int8|int4', help: 'weight precision; int8/int4 are quantised once into <out>/converted/', default: 'the checkpoint\'s own, no conversion' },
    copy: { type: 'boolean', help: 'copy the weight files into --out instead of pointing model.json at them' },
    name: { type: 'string', value: 'NAME', help: 'model name shown in VS Code and logs', default: 'the --out folder\'s name' },
    out: { type: 'string', value: 'DIR', help: 'model folder to write (required)' },
    ...OUTPUT_OPTIONS,
  },
  examples: ['lavin convert --llama /models/llama-7b --clip /models/ViT-L-14.pt --adapter /models/lavin-7b-sqa.pth --precision int4 --out ~/lavin-7b'],
  async run({ values, positionals }, ctx) {
    noPositionals(positionals, 'convert');
    const precision = stringOption(values, 'precision');
    if (precision !== undefined && !PRECISIONS.includes(precision)) throw new UsageError(`--precision must be fp32, fp16, int8 or int4, got "${precision}"`);
    await convert({
      llama: requiredOption(values, 'llama', 'convert'), clip: requiredOption(values, 'clip', 'convert'), adapter: requiredOption(values, 'adapter', 'convert'),
      tokenizer: stringOption(values, 'tokenizer'), precision: precision as PrecisionName | undefined, out: requiredOption(values, 'out', 'convert'),
      name: stringOption(values, 'name'), copy: !!values.copy, clipHeads: numberOption(values, 'clip-heads', { min: 1, max: 256, integer: true }),
    }, { json: !!values.json, verbose: !!values.verbose }, ctx);
  },
};
