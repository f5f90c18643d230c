// `lavin tokenize --model M [--raw] [--json] "TEXT"`: the token ids a prompt becomes, printed as
// {"event":"tokens","ids":[...]}. M is a GGUF file (a vocab-only one is enough: no tensor is read), a
// Hugging Face folder (tokenizer.json) or a LaVIN model folder (model.json).
//   --raw: exactly the ids `ask --raw` feeds the model: llama.cpp's tokenisation of a raw prompt for
//          that file (its BOS/EOS rule, control-token text parsed; see VocabTokenizer.encodeRaw).
//   else:  the ids of the prompt `ask` builds for TEXT as one user turn: the model's own chat template
//          (GGUF / Hugging Face; raw when the file has none), LaVIN's instruction format for a model folder.

import * as fs from 'fs';
import * as path from 'path';
import { readManifest, resolveIn } from '../../engine/modelDir';
import { inferenceSequence, LAVIN_FAMILY, type PromptFamily } from '../../engine/sequence';
import { isSentencePieceStyle, modelChatRenderer, SentencePieceModelTokenizer, tokenizerFromGgufFile, tokenizerFromHfFolder, type Tokenizer } from '../../engine/tokenizer';
import { defaultModelDir } from '../defaults';
import { onePositional, stringOption, type CliCommand } from './command';
import type { CliOutput } from './output';
import { UsageError } from './usage';

export const tokenizeCommand: CliCommand = {
  name: 'tokenize',
  summary: 'print the token ids a prompt becomes for a model (GGUF file, Hugging Face folder or model folder)',
  synopsis: '[--model FILE.gguf|DIR] [--raw] [--json] "TEXT"',
  options: {
    model: { type: 'string', value: 'FILE.gguf|DIR', help: 'a GGUF file (vocab-only is enough), a Hugging Face folder with tokenizer.json, or a model folder with model.json', default: 'the embedded tiny model' },
    raw: { type: 'boolean', help: "the ids `lavin ask --raw` feeds the model: llama.cpp's tokenisation of a raw prompt for that file (BOS/EOS as its metadata says; text spelling a control token is that token)" },
    json: { type: 'boolean', help: 'print {"event":"tokens","ids":[...]} instead of the ids separated by spaces' },
  },
  positionals: [['"TEXT"', 'the prompt (quote it)']],
  notes: [
    "Without --raw: the ids of the prompt `lavin ask` builds for TEXT: the model's own chat template (the raw ids when the file has none), or LaVIN's instruction format for a LaVIN model folder.",
  ],
  examples: ['lavin tokenize --model qwen2.5-0.5b-instruct-q4_k_m.gguf --raw --json "Hello world"', 'lavin tokenize --model ~/lavin-7b "What is in this picture?"'],
  async run({ values, positionals }, ctx) {
    await runTokenize({ model: stringOption(values, 'model'), raw: !!values.raw, text: onePositional(positionals, 'a TEXT', 'tokenize') }, ctx.out);
  },
};

export interface TokenizeArgs {
  model?: string;
  raw: boolean;
  text: string;
}

export async function runTokenize(args: TokenizeArgs, out: CliOutput): Promise<number[]> {
  const { tokenizer, family } = await openForTokenize(args.model ?? defaultModelDir());
  const ids = inferenceSequence(tokenizer, args.raw ? { kind: 'raw' } : family, args.raw ? args.text : { kind: 'chat', turns: [{ role: 'user', content: args.text }] }, { image: false, nVisual: 0 }).ids;
  out.event({ event: 'tokens', ids });
  out.text(`${ids.join(' ')}\n`);
  return ids;
}

/** The tokenizer of a model path and the prompt family `ask` uses with it. */
export async function openForTokenize(model: string): Promise<{ tokenizer: Tokenizer; family: PromptFamily }> {
  if (!fs.existsSync(model)) throw new UsageError(`--model ${model} does not exist`);
  if (fs.statSync(model).isFile()) {
    if (!model.toLowerCase().endsWith('.gguf')) throw new Error(`${model}: not a GGUF file (tokenize takes a .gguf file, a Hugging Face folder or a LaVIN model folder)`);
    const tokenizer = tokenizerFromGgufFile(model);
    return { tokenizer, family: templateFamily(tokenizer, model) };
  }
  if (fs.existsSync(path.join(model, 'model.json'))) {
    const manifest = readManifest(model);
    if (!manifest.tokenizer) throw new Error(`model folder ${model}: model.json names no tokenizer`);
    return { tokenizer: await SentencePieceModelTokenizer.fromFile(resolveIn(model, manifest.tokenizer)), family: LAVIN_FAMILY };
  }
  if (fs.existsSync(path.join(model, 'tokenizer.json'))) {
    const spm = path.join(model, 'tokenizer.model');
    if (fs.existsSync(spm) && isSentencePieceStyle(JSON.parse(fs.readFileSync(path.join(model, 'tokenizer.json'), 'utf8')))) {
      return { tokenizer: await SentencePieceModelTokenizer.fromFile(spm), family: { kind: 'raw' } };
    }
    const tokenizer = tokenizerFromHfFolder(model);
    return { tokenizer, family: templateFamily(tokenizer, model) };
  }
  throw new Error(`${model}: not a model (no model.json, no tokenizer.json; or give a .gguf file)`);
}

function templateFamily(tokenizer: Tokenizer, source: string): PromptFamily {
  const render = modelChatRenderer(tokenizer, source);
  return render ? { kind: 'chatTemplate', render } : { kind: 'raw' };
}
