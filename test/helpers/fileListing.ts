// Every file under a folder with its size and modification time: equal before and after means the
// folder was left untouched (the adapter store after a refused export or import).
import * as fs from 'fs';
import * as path from 'path';

export function fileListing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${path.relative(dir, p)} ${fs.statSync(p).size} ${fs.statSync(p).mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}
