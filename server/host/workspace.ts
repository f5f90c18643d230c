// The workspace boundary: file paths that requests name (files to explain, docs to train on) must
// lie inside one of the workspace folders, after resolving symlinks, so a client cannot make the
// server read arbitrary files.

import * as fs from 'fs';
import * as path from 'path';
import { LavinErrorCodes } from '../protocol';
import { HostError } from './errors';

export class Workspace {
  private readonly roots: string[];

  constructor(roots: string[]) {
    this.roots = roots.map((r) => realOrResolved(r));
  }

  get folders(): readonly string[] {
    return this.roots;
  }

  /** `file://` URI or path (relative paths are taken from the first folder) -> real absolute path inside the workspace. */
  resolve(p: string, what = 'path'): string {
    if (typeof p !== 'string' || p === '') throw new HostError(-32602, `${what} must be a non-empty string`);
    let abs = p.startsWith('file://') ? fileUriToPath(p) : p;
    if (!path.isAbsolute(abs)) {
      if (this.roots.length === 0) throw new HostError(LavinErrorCodes.PathOutsideWorkspace, `${what} ${p} is relative and there is no workspace folder`);
      abs = path.join(this.roots[0], abs);
    }
    const real = realOrResolved(abs);
    if (!this.roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) {
      const where = this.roots.length ? `the workspace (${this.roots.join(', ')})` : 'the workspace (no folder is open)';
      throw new HostError(LavinErrorCodes.PathOutsideWorkspace, `${what} ${p} is outside ${where}; refused`);
    }
    return real;
  }
}

function fileUriToPath(uri: string): string {
  return decodeURIComponent(new URL(uri).pathname);
}

/** realpath when the file exists (so symlinks cannot escape), else the normalised path. */
function realOrResolved(p: string): string {
  const abs = path.resolve(p);
  try {
    return fs.realpathSync(abs);
  } catch {
    // Missing: resolve the nearest existing parent, so "root/../../etc" style names are still caught.
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(realOrResolved(parent), path.basename(abs));
  }
}
