// Wire params -> typed, checked params. The host's methods trust what these return.

import {
  ActivateAdapterSetParams, ChatMessage, ChatParams, CodeContext, ExplainParams, LoadModelParams, PreviewTrainingParams,
  SamplingParams, SetupModelParams, TrainParams,
} from '../protocol';
import { checkIncludePatterns } from '../train/data/docs';
import { badParams } from './errors';
import { array, object, Obj, optBoolean, optEnum, optNumber, optObject, optString, string } from './validate';

const DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
const PRECISIONS = ['fp32', 'fp16', 'int8', 'int4'] as const;

function sampling(o: Obj): SamplingParams {
  return {
    maxNewTokens: optNumber(o, 'maxNewTokens', { min: 1, max: 100_000, integer: true }),
    temperature: optNumber(o, 'temperature', { min: 0, max: 10 }),
    topP: optNumber(o, 'topP', { min: 0, max: 1 }),
    seed: optNumber(o, 'seed', { integer: true, min: 0 }),
  };
}

function code(value: unknown, what: string): CodeContext | undefined {
  const o = optObject(value, what);
  if (!o) return undefined;
  return { fileName: string(o, 'fileName', `${what}.fileName`), languageId: string(o, 'languageId', `${what}.languageId`), text: optString(o, 'text', `${what}.text`) ?? '' };
}

function message(value: unknown, i: number): ChatMessage {
  const what = `messages[${i}]`;
  const o = object(value, what);
  const role = o.role;
  if (role !== 'user' && role !== 'assistant') throw badParams(`${what}.role must be "user" or "assistant"`);
  const content = optString(o, 'content', `${what}.content`) ?? '';
  let images: string[] | undefined;
  if (o.images !== undefined && o.images !== null) {
    images = array(o, 'images', `${what}.images`).map((img, j) => {
      if (typeof img !== 'string' || img === '') throw badParams(`${what}.images[${j}] must be a base64 string`);
      return img;
    });
  }
  return { role, content, images, code: code(o.code, `${what}.code`) };
}

export function chatParams(value: unknown): ChatParams {
  const o = object(value);
  const messages = array(o, 'messages').map(message);
  if (messages.length === 0) throw badParams('messages must not be empty');
  if (messages[messages.length - 1].role !== 'user') throw badParams('the last message must be a user message');
  const raw = o.raw;
  if (raw !== undefined && typeof raw !== 'boolean') throw badParams('raw must be true or false');
  const readImageText = optBoolean(o, 'readImageText');
  return { ...sampling(o), messages, streamId: optString(o, 'streamId'), ...(raw ? { raw: true } : {}), ...(readImageText === undefined ? {} : { readImageText }) };
}

export function explainParams(value: unknown): ExplainParams {
  const o = object(value);
  const sel = optObject(o.selection, 'selection');
  let selection: ExplainParams['selection'];
  if (sel) {
    const startLine = optNumber(sel, 'startLine', { min: 0, integer: true });
    const endLine = optNumber(sel, 'endLine', { min: 0, integer: true });
    if (startLine === undefined || endLine === undefined) throw badParams('selection needs startLine and endLine');
    if (endLine < startLine) throw badParams(`selection.endLine (${endLine}) is before selection.startLine (${startLine})`);
    selection = { startLine, endLine };
  }
  return {
    ...sampling(o),
    path: string(o, 'path'),
    text: optString(o, 'text'),
    languageId: optString(o, 'languageId'),
    selection,
    streamId: optString(o, 'streamId'),
  };
}

export function loadModelParams(value: unknown): LoadModelParams {
  const o = value === undefined || value === null ? {} : object(value);
  return {
    dir: optString(o, 'dir'),
    device: optEnum(o, 'device', DEVICES),
    precision: optEnum(o, 'precision', PRECISIONS),
    threads: optNumber(o, 'threads', { min: 1, max: 1024, integer: true }),
    clip: optString(o, 'clip'),
  };
}

export function trainParams(value: unknown): TrainParams {
  const o = object(value);
  const name = optString(o, 'name');
  if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw badParams(`name "${name}" must be 1-64 letters, digits, ".", "_" or "-" (it becomes a folder name)`);
  }
  const token = o.workDoneToken;
  if (token !== undefined && typeof token !== 'string' && typeof token !== 'number') throw badParams('workDoneToken must be a string or number');
  return {
    // docs is required unless data (image-question data) is given instead.
    ...(o.data !== undefined && o.docs === undefined ? { data: string(o, 'data') } : { docs: string(o, 'docs'), data: optString(o, 'data') }),
    include: includeGlobs(o),
    steps: optNumber(o, 'steps', { min: 1, max: 1_000_000, integer: true }),
    name,
    out: optString(o, 'out'),
    resume: optBoolean(o, 'resume'),
    overwrite: optBoolean(o, 'overwrite'),
    learningRate: optNumber(o, 'learningRate', { min: 0, max: 1 }),
    readImageText: optBoolean(o, 'readImageText'),
    workDoneToken: token as TrainParams['workDoneToken'],
    runId: optString(o, 'runId'),
  };
}

export function previewTrainingParams(value: unknown): PreviewTrainingParams {
  const o = object(value);
  return { docs: string(o, 'docs'), include: includeGlobs(o) };
}

/** `include`: absent, or a non-empty list of globs relative to the docs folder. */
function includeGlobs(o: Obj): string[] | undefined {
  if (o.include === undefined || o.include === null) return undefined;
  const globs = array(o, 'include');
  if (globs.length === 0) throw badParams('include must list at least one glob pattern (leave it out to use every document)');
  try {
    checkIncludePatterns(globs);
  } catch (err) {
    throw badParams((err as Error).message);
  }
  return globs as string[];
}

export function activateParams(value: unknown): ActivateAdapterSetParams {
  const o = object(value);
  if (o.name !== null && typeof o.name !== 'string') throw badParams('name must be an adapter set name or null');
  return { name: o.name as string | null };
}

export function setupModelParams(value: unknown): SetupModelParams {
  const o = object(value);
  const token = o.workDoneToken;
  return {
    llama: string(o, 'llama'),
    clip: string(o, 'clip'),
    adapter: string(o, 'adapter'),
    tokenizer: optString(o, 'tokenizer'),
    clipHeads: optNumber(o, 'clipHeads', { min: 1, max: 256, integer: true }),
    precision: optEnum(o, 'precision', PRECISIONS),
    out: string(o, 'out'),
    name: optString(o, 'name'),
    copy: optBoolean(o, 'copy'),
    activate: optBoolean(o, 'activate'),
    workDoneToken: typeof token === 'string' || typeof token === 'number' ? token : undefined,
  };
}
