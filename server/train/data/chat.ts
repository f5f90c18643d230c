// LaVIN chat-format data: a JSON array or JSONL file of records
//   { "instruction": "...", "input"?: "...", "output": "...", "image"?: "relative/path.png" }
// or LLaVA-style { "conversations": [{ "from": "human", "value" }, { "from": "gpt", "value" }], "image"? }
// (the first human/gpt pair; "<image>" markers are dropped). Image paths resolve against the file's
// folder (or `imageRoot`) and must stay inside it.

import * as fs from 'fs';
import * as path from 'path';
import { chatPrompt, TextSample } from './tokenize';
import { resolveInside } from './paths';

export function loadChatFile(file: string, opts: { imageRoot?: string } = {}): TextSample[] {
  const text = fs.readFileSync(file, 'utf8');
  const name = path.basename(file);
  let records: unknown[];
  if (file.endsWith('.jsonl')) {
    records = [];
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        records.push(JSON.parse(line));
      } catch (e) {
        throw new Error(`${name} line ${i + 1}: not valid JSON (${(e as Error).message})`);
      }
    });
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`${name}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(parsed)) throw new Error(`${name}: expected a JSON array of records`);
    records = parsed;
  }
  const root = opts.imageRoot ?? path.dirname(file);
  return records.map((r, i) => toSample(r, `${name}#${i + 1}`, root));
}

function toSample(r: unknown, where: string, root: string): TextSample {
  if (typeof r !== 'object' || r === null) throw new Error(`${where}: a record must be an object`);
  const rec = r as Record<string, unknown>;
  let prompt: string;
  let answer: string;
  if (Array.isArray(rec.conversations)) {
    const turns = rec.conversations as { from?: string; value?: string }[];
    const human = turns.find((t) => t.from === 'human');
    const gpt = turns.find((t) => t.from === 'gpt');
    if (typeof human?.value !== 'string' || typeof gpt?.value !== 'string') throw new Error(`${where}: "conversations" needs a human and a gpt turn with string values`);
    prompt = chatPrompt(human.value.replace(/<image>\n?|\n?<image>/g, '').trim());
    answer = gpt.value;
  } else {
    if (typeof rec.instruction !== 'string' || !rec.instruction.trim()) throw new Error(`${where}: "instruction" must be a non-empty string`);
    if (typeof rec.output !== 'string') throw new Error(`${where}: "output" must be a string`);
    if (rec.input !== undefined && typeof rec.input !== 'string') throw new Error(`${where}: "input" must be a string`);
    prompt = chatPrompt(rec.instruction, rec.input as string | undefined);
    answer = rec.output;
  }
  let imagePath: string | undefined;
  if (rec.image !== undefined && rec.image !== null && rec.image !== '') {
    if (typeof rec.image !== 'string') throw new Error(`${where}: "image" must be a path string`);
    imagePath = resolveInside(root, rec.image, where);
    if (!fs.existsSync(imagePath)) throw new Error(`${where}: image ${rec.image} does not exist`);
  }
  return { prompt, answer, imagePath, source: where };
}
