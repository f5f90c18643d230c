// Wire params -> checked params for the adapter-set file requests and the vision-data preview
// (lavin/exportAdapterSet, lavin/importAdapterSet, lavin/previewVisionData).
// Export and import take any absolute path, like model folders do: the user picks these files in
// a dialog, an export never replaces a file unless the user confirmed it, and an import only ever
// accepts a complete, checksummed export (the docs and data folders stay inside the workspace).

import * as path from 'path';
import { ExportAdapterSetParams, ImportAdapterSetParams, PreviewVisionDataParams } from '../protocol';
import { ADAPTER_SET_NAME } from '../train/adapterExport';
import { badParams } from './errors';
import { object, Obj, optBoolean, optString, string } from './validate';

export function previewVisionDataParams(value: unknown): PreviewVisionDataParams {
  return { data: string(object(value), 'data') };
}

export function exportAdapterSetParams(value: unknown): ExportAdapterSetParams {
  const o = object(value);
  return { name: setName(string(o, 'name'), 'name'), file: absoluteFile(o, 'file'), overwrite: optBoolean(o, 'overwrite') };
}

export function importAdapterSetParams(value: unknown): ImportAdapterSetParams {
  const o = object(value);
  const name = optString(o, 'name');
  return { file: absoluteFile(o, 'file'), name: name === undefined ? undefined : setName(name, 'name') };
}

function setName(name: string, key: string): string {
  if (!ADAPTER_SET_NAME.test(name)) throw badParams(`${key} "${name}" must be 1-64 letters, digits, ".", "_" or "-" (it is a folder name in the store)`);
  return name;
}

function absoluteFile(o: Obj, key: string): string {
  const file = string(o, key);
  const p = file.startsWith('file://') ? decodeURIComponent(new URL(file).pathname) : file;
  if (!path.isAbsolute(p)) throw badParams(`${key} must be an absolute path, got "${file}"`);
  return p;
}
