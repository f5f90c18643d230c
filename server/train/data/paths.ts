import * as fs from 'fs';
import * as path from 'path';

/** Resolve `rel` against `root`, refusing anything (including symlinks) that leads outside root. */
export function resolveInside(root: string, rel: string, where: string): string {
  const rootReal = fs.realpathSync(root);
  const p = path.resolve(root, rel);
  const check = (q: string) => {
    const r = path.relative(rootReal, q);
    if (r.startsWith('..') || path.isAbsolute(r)) throw new Error(`${where}: ${rel} points outside ${root}`);
  };
  check(path.resolve(rootReal, path.relative(root, p)));
  if (fs.existsSync(p)) check(fs.realpathSync(p));
  return p;
}
