// Where things live when nobody says: the embedded default model and the adapter-set folder.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const DEFAULT_MODEL_NAME = 'lavin-tiny';
export const DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** models/lavin-tiny of this package: found by walking up from the compiled file (out/server/host or dist/). */
export function defaultModelDir(): string {
  if (process.env.LAVIN_MODEL_DIR) return path.resolve(process.env.LAVIN_MODEL_DIR);
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'models', DEFAULT_MODEL_NAME);
    if (fs.existsSync(path.join(candidate, 'model.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, '..', '..', '..', 'models', DEFAULT_MODEL_NAME);
    dir = parent;
  }
}

/** ~/.lavin (or $LAVIN_HOME): adapter sets and derived model folders. */
export function lavinHome(): string {
  return path.resolve(process.env.LAVIN_HOME ?? path.join(os.homedir(), '.lavin'));
}

export function packageVersion(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        const j = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
        if (j.name === 'lavin-code' && j.version) return j.version;
      } catch {
        // keep walking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return '0.0.0';
    dir = parent;
  }
}
