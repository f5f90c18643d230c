// Bounded looks into folders the user did not make for us: a model store can hold a huge or
// looping tree (a home folder picked by mistake, symlink cycles, a slow network mount), so every
// scan shares one budget of directory entries and a deadline, and says when it stopped short.

import * as fs from 'fs';
import * as path from 'path';

export class ScanBudget {
  private entries = 0;
  private readonly deadline: number;
  /** Why the scan stopped short, once it has. */
  stopped: string | undefined;

  constructor(readonly maxEntries = 50_000, readonly maxMs = 30_000) {
    this.deadline = Date.now() + maxMs;
  }

  /** False once the entry count or the deadline is spent (and says which in `stopped`). */
  take(n: number): boolean {
    if (this.stopped) return false;
    this.entries += n;
    if (this.entries > this.maxEntries) this.stopped = `stopped after ${this.maxEntries} folder entries`;
    else if (Date.now() > this.deadline) this.stopped = `stopped after ${Math.round(this.maxMs / 1000)} s`;
    return !this.stopped;
  }
}

export interface Entry {
  name: string;
  full: string;
  /** Symlinks resolved: what the link points at. */
  kind: 'file' | 'dir' | 'broken-link' | 'other';
}

/** A folder's entries in name order, or the one-line reason it cannot be read. */
export async function listDir(dir: string, budget: ScanBudget): Promise<Entry[] | string> {
  let dirents: fs.Dirent[];
  try {
    dirents = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (e) {
    return fsReason(dir, e);
  }
  if (!budget.take(dirents.length)) return budget.stopped!;
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: Entry[] = [];
  for (const d of dirents) {
    const full = path.join(dir, d.name);
    let kind: Entry['kind'] = d.isFile() ? 'file' : d.isDirectory() ? 'dir' : 'other';
    if (d.isSymbolicLink()) {
      try {
        const st = await fs.promises.stat(full);
        kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
      } catch {
        kind = 'broken-link';
      }
    }
    out.push({ name: d.name, full, kind });
  }
  return out;
}

/** Size of a file (symlinks followed), or undefined when it is missing. */
export async function fileSize(file: string): Promise<number | undefined> {
  try {
    const st = await fs.promises.stat(file);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

export async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** A small text file (manifest, config, template), or the reason it cannot be read. */
export async function readSmallText(file: string, maxBytes = 4 * 1024 * 1024): Promise<{ text: string } | { reason: string }> {
  try {
    const st = await fs.promises.stat(file);
    if (!st.isFile()) return { reason: `${file} is not a file` };
    if (st.size > maxBytes) return { reason: `${file} is ${st.size} bytes, more than the ${maxBytes} a ${path.basename(file)} can be` };
    return { text: await fs.promises.readFile(file, 'utf8') };
  } catch (e) {
    return { reason: fsReason(file, e) };
  }
}

/** A file system error as one line naming the path. */
export function fsReason(p: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${p} does not exist`;
  if (code === 'EACCES' || code === 'EPERM') return `${p} cannot be read (permission denied)`;
  if (code === 'ENOTDIR') return `${p} is not a folder`;
  return `${p} cannot be read: ${firstLine(e)}`;
}

export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
