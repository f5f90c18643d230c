// Bundles the backend entry points with esbuild into dist/ (run by `npm run build` after tsc):
//   dist/server.js   the language server   (node dist/server.js --stdio)
//   dist/cli.js      the `lavin` CLI        (bin/lavin.js loads it)
//   dist/extension.js the VS Code extension, when extension/extension.ts exists
// Native or WASM-loading packages stay external and load from node_modules at run time.
import * as esbuild from 'esbuild';
import { existsSync } from 'fs';
import { dirname, join } from 'path';
import { fileURLToPath } from 'url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const external = ['onnxruntime-node', 'sharp', '@sctg/sentencepiece-js', 'vscode'];

const entries = [
  { in: 'server/main.ts', out: 'server' },
  { in: 'server/cli.ts', out: 'cli' },
  { in: 'extension/extension.ts', out: 'extension' },
].filter((e) => existsSync(join(root, e.in)));

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: entries.map((e) => ({ in: e.in, out: e.out })),
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: true,
  external,
  logLevel: 'warning',
  metafile: true,
});
for (const [file, info] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith('.js')) console.log(`${file}  ${(info.bytes / 1024).toFixed(0)} KiB`);
}
