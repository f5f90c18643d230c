// What the training CLI tests start from: a docs folder with one two-section guide, and an empty
// LAVIN_HOME for the adapter-set store.

import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './runLavin';

export function guideDocs(): { docs: string; home: string } {
  const docs = tempDir('lavin-docs-');
  const home = tempDir('lavin-home-');
  fs.writeFileSync(path.join(docs, 'guide.md'), [
    '# Install', '', 'Run npm ci, then npm run build; the command line is then available as npx lavin.', '',
    '# Ask', '', 'Use lavin ask with a quoted question, and --image to ask about a screenshot.', '',
  ].join('\n'));
  return { docs, home };
}
