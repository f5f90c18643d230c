// Adapter sets on the command line: which set one run uses (`--adapters NAME|DIR`, else the set
// `lavin adapters --activate` marked), and that mark, kept as a one-line file in $LAVIN_HOME.

import * as fs from 'fs';
import * as path from 'path';
import { ADAPTER_META_FILE } from '../../train';
import { exportAdapterSet, ExportResult, importAdapterSet, ImportResult } from '../../train/adapterExport';
import { lavinHome } from '../defaults';
import { defaultAdapterSetsDir } from '../trainingPort';

export interface ChosenAdapterSet {
  name: string;
  /** The set's folder (adapter.json + tensors). */
  dir: string;
  /** How it was chosen, for the messages. */
  via: 'flag' | 'active';
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function activeFile(): string {
  return path.join(lavinHome(), 'active-adapter-set');
}

/** The name `lavin adapters --activate` marked, or null. */
export function activeAdapterSet(): string | null {
  try {
    const name = fs.readFileSync(activeFile(), 'utf8').trim();
    return NAME.test(name) ? name : null;
  } catch {
    return null;
  }
}

export function setActiveAdapterSet(name: string | null): void {
  if (name === null) {
    fs.rmSync(activeFile(), { force: true });
    return;
  }
  fs.mkdirSync(path.dirname(activeFile()), { recursive: true });
  fs.writeFileSync(activeFile(), name + '\n');
}

export function knownSetNames(storeDir = defaultAdapterSetsDir()): string[] {
  if (!fs.existsSync(storeDir)) return [];
  return fs.readdirSync(storeDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(storeDir, e.name, ADAPTER_META_FILE)))
    .map((e) => e.name)
    .sort();
}

/** A set of the store by name; a clear error naming what exists when there is none. */
export function storeSet(name: string, storeDir = defaultAdapterSetsDir()): string {
  const dir = path.join(storeDir, name);
  if (!NAME.test(name) || !fs.existsSync(path.join(dir, ADAPTER_META_FILE))) {
    const known = knownSetNames(storeDir);
    throw new Error(`no adapter set named "${name}" in ${storeDir} (${known.length ? `known: ${known.join(', ')}` : 'none saved yet: make one with lavin train'}; "lavin adapters" lists them)`);
  }
  return dir;
}

/**
 * The set a run uses: `--adapters` (a name in the store, or a folder holding adapter.json; "none"
 * for the model's own adapters), else the active set, else none. Never changes the active mark.
 */
export function chooseAdapterSet(flag: string | undefined): ChosenAdapterSet | null {
  if (flag === undefined) {
    const active = activeAdapterSet();
    if (active === null) return null;
    try {
      return { name: active, dir: storeSet(active), via: 'active' };
    } catch (err) {
      throw new Error(`the active adapter set is gone: ${(err as Error).message}; "lavin adapters --activate none" clears the mark`);
    }
  }
  if (flag === 'none') return null;
  const looksLikePath = flag.includes('/') || flag.includes(path.sep) || flag.startsWith('.') || !NAME.test(flag);
  if (looksLikePath || (!fs.existsSync(path.join(defaultAdapterSetsDir(), flag)) && fs.existsSync(flag))) {
    const dir = path.resolve(flag);
    if (!fs.existsSync(dir)) throw new Error(`adapter set folder ${flag} does not exist`);
    if (!fs.statSync(dir).isDirectory()) throw new Error(`adapter set ${flag} is a file, not a folder (a set is a folder made by lavin train)`);
    if (!fs.existsSync(path.join(dir, ADAPTER_META_FILE))) throw new Error(`folder ${flag} is not an adapter set (it has no ${ADAPTER_META_FILE}; sets are made by lavin train)`);
    return { name: path.basename(dir), dir, via: 'flag' };
  }
  return { name: flag, dir: storeSet(flag), via: 'flag' };
}

/** `lavin adapters --export`: a set (by name or folder, as --adapters takes it) to one .safetensors file. */
export function exportSet(nameOrDir: string, file: string): Promise<ExportResult> {
  if (nameOrDir === 'none') throw new Error('--export needs an adapter set name or folder');
  return exportAdapterSet(chooseAdapterSet(nameOrDir)!.dir, path.resolve(file));
}

/** `lavin adapters --import`: an exported file into the store (never over an existing set). */
export function importSet(file: string, name?: string): Promise<ImportResult> {
  return importAdapterSet(path.resolve(file), defaultAdapterSetsDir(), { name });
}
