// `lavin train --docs DIR | --data DIR`: fine-tune the adapters on a folder of docs, or on image-question
// data (LLaVA-Instruct data.json or ScienceQA), into a named adapter set.

import { train } from './commands';
import { UsageError } from './usage';
import { CliCommand, commonFlags, DEVICE_OPTION, MODEL_OPTION, noPositionals, numberOption, OUTPUT_OPTIONS, stringOption } from './command';

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'fine-tune the adapters on project docs or image-question data into a named adapter set',
  synopsis: '[--model DIR|FILE.gguf] [--clip PATH] (--docs DIR [--include GLOB]... [--dry-run] | --data DIR) [--steps N] [--out DIR] [--name NAME] [--resume | --overwrite] [--no-image-text] [--json]',
  options: {
    ...MODEL_OPTION,
    clip: { type: 'string', value: 'PATH', help: 'CLIP for a GGUF / Hugging Face backbone: a Hugging Face CLIP folder or .safetensors, an OpenAI .pt, or a LLaVA mmproj .gguf (images are used once a vision adapter set is trained for this backbone and CLIP)', default: 'the mmproj*.gguf beside the GGUF file, or its Ollama projector layer; none otherwise' },
    docs: { type: 'string', value: 'DIR', help: 'folder of Markdown, reStructuredText or text docs to train on (this or --data)' },
    data: { type: 'string', value: 'DIR', help: 'image-question data: a folder with a LLaVA-Instruct-style data.json ([{"id", "image", "conversations"}]) or the ScienceQA layout (problems.json, pid_splits.json); every sample is checked first and the skipped ones are listed' },
    include: { type: 'string', value: 'GLOB', multiple: true, help: 'only documents matching this glob, relative to --docs', default: 'every document' },
    'dry-run': { type: 'boolean', help: 'print the samples training would build, without loading a model' },
    steps: { type: 'string', value: 'N', help: 'optimizer steps in total (counting those of a resumed run)', default: '100 for docs; for --data, epochs sized to the data (20 up to 200 samples, 10 up to 2000, else 3; 4 samples a step)' },
    name: { type: 'string', value: 'NAME', help: 'name of the adapter set', default: 'the docs or data folder\'s name' },
    out: { type: 'string', value: 'DIR', help: 'folder to save the set in', default: '~/.lavin/adapter-sets/NAME, or $LAVIN_HOME/adapter-sets/NAME' },
    resume: { type: 'boolean', help: 'continue the saved set from its last step, exactly (same parameters and optimizer state)' },
    overwrite: { type: 'boolean', help: 'replace an existing set of that name; without it (or --resume) training refuses and keeps the set' },
    'no-image-text': { type: 'boolean', help: 'do not give image samples the text read from their image (OCR) as context; by default they get it, as image questions do (lavin.readImageText)' },
    ...DEVICE_OPTION,
    ...OUTPUT_OPTIONS,
  },
  notes: ['Ctrl-C stops at the next step and saves a checkpoint (exit 130); run again with --resume to continue.'],
  examples: [
    'lavin train --docs docs --steps 20 --name docs', 'lavin ask --adapters docs "How do I install it?"',
    'lavin train --model ~/tiny-int4 --data shapes/train --out shapes-set', 'lavin ask --model ~/tiny-int4 --adapters shapes-set --temperature 0 --image a.png "What colour is the shape?"',
  ],
  async run({ values, positionals }, ctx) {
    noPositionals(positionals, 'train', '; use --docs DIR or --data DIR');
    const include = values.include as string[] | undefined;
    const docs = stringOption(values, 'docs');
    const data = stringOption(values, 'data');
    if ((docs === undefined) === (data === undefined)) throw new UsageError('train needs --docs DIR (project docs) or --data DIR (image-question data), one of them');
    if (data !== undefined && (include || values['dry-run'])) throw new UsageError('--include and --dry-run apply to --docs; --data checks every sample before training starts');
    const name = stringOption(values, 'name');
    if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new UsageError(`--name "${name}" must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (it becomes a folder name)`);
    if (values.resume && values.overwrite) throw new UsageError('--resume continues a set and --overwrite replaces it: give one of them');
    await train(
      { docs, data, steps: numberOption(values, 'steps', { min: 1, max: 1_000_000, integer: true }), out: stringOption(values, 'out'), resume: !!values.resume, overwrite: !!values.overwrite, name, include, dryRun: !!values['dry-run'], readImageText: !values['no-image-text'] },
      { ...commonFlags(values), clip: stringOption(values, 'clip') },
      ctx,
    );
  },
};
