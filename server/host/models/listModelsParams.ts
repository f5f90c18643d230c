// lavin/listModels params from the wire: optional arrays of non-empty path strings.

import type { ListModelsParams } from '../../protocol';
import { badParams } from '../errors';
import { array, object } from '../validate';

const KEYS = ['ollama', 'lmStudio', 'huggingFace', 'paths'] as const;

export function listModelsParams(value: unknown): ListModelsParams {
  const o = value === undefined || value === null ? {} : object(value);
  const out: ListModelsParams = {};
  for (const key of KEYS) {
    if (o[key] === undefined || o[key] === null) continue;
    out[key] = array(o, key).map((p, i) => {
      if (typeof p !== 'string' || p === '') throw badParams(`${key}[${i}] must be a non-empty path string`);
      return p;
    });
  }
  return out;
}
