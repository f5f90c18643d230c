// Checks on request params from the wire: every message names the field that is wrong.

import { badParams } from './errors';

export type Obj = Record<string, unknown>;

export function object(value: unknown, what = 'params'): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badParams(`${what} must be an object`);
  return value as Obj;
}

export function optObject(value: unknown, what: string): Obj | undefined {
  return value === undefined || value === null ? undefined : object(value, what);
}

export function string(o: Obj, key: string, what = key): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw badParams(`${what} must be a non-empty string`);
  return v;
}

export function optString(o: Obj, key: string, what = key): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badParams(`${what} must be a string`);
  return v;
}

export function optBoolean(o: Obj, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badParams(`${key} must be true or false`);
  return v;
}

export function optNumber(o: Obj, key: string, range: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badParams(`${key} must be a number`);
  if (range.integer && !Number.isInteger(v)) throw badParams(`${key} must be an integer, got ${v}`);
  if (range.min !== undefined && v < range.min) throw badParams(`${key} must be at least ${range.min}, got ${v}`);
  if (range.max !== undefined && v > range.max) throw badParams(`${key} must be at most ${range.max}, got ${v}`);
  return v;
}

export function optEnum<T extends string>(o: Obj, key: string, values: readonly T[]): T | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !values.includes(v as T)) throw badParams(`${key} must be one of ${values.join(', ')}`);
  return v as T;
}

export function array(o: Obj, key: string, what = key): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw badParams(`${what} must be an array`);
  return v;
}
