// `npm run screenshots`: runs the VS Code suite into a clean .cache/screenshots, and only if it
// passed copies the pictures the README and the marketplace page show into media/screenshots.
// `npm test` never writes into the tree; this is the one explicit way the committed pictures change.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, '.cache/screenshots');
const to = join(root, 'media/screenshots');
const PICTURES = ['chat-image-answer', 'router-weights', 'explain-selection', 'explorer-context-menu', 'fine-tune-progress', 'status-bar', 'workbench'];

rmSync(from, { recursive: true, force: true }); // no picture from an earlier run can slip in
const suite = spawnSync('npm', ['run', 'test:vscode'], { cwd: root, stdio: 'inherit', env: { ...process.env, LAVIN_SCREENSHOT_DIR: from } });
if (suite.status !== 0) {
  console.error('screenshots: the VS Code suite failed; media/screenshots is unchanged');
  process.exit(1);
}
const missing = PICTURES.filter((p) => !existsSync(join(from, `${p}.png`)));
if (missing.length) {
  console.error(`screenshots: the suite took no ${missing.join(', ')}; media/screenshots is unchanged`);
  process.exit(1);
}
for (const p of PICTURES) copyFileSync(join(from, `${p}.png`), join(to, `${p}.png`));
console.log(`screenshots: ${PICTURES.length} pictures copied from .cache/screenshots to media/screenshots`);
