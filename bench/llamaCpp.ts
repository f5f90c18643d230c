// node-llama-cpp, the llama.cpp the bench compares against, installed on first use into
// .cache/bench-deps/ (npm registry; prebuilt CPU binaries, nothing built). It is not a project
// dependency: its optional per-platform packages are not all on every registry mirror, which would
// break `npm ci` for everyone, and only the benchmark and its GGUF test need it.

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';

export const NODE_LLAMA_CPP_VERSION = '3.21.1';
const ROOT = path.resolve(__dirname, '..', '..');
const PREFIX = path.join(ROOT, '.cache', 'bench-deps');

/** The parts of node-llama-cpp's API the bench uses (kept loose: the package is loaded at run time). */
export interface NodeLlamaCpp {
  getLlama(opts: { gpu: false; build: 'never'; logLevel: unknown }): Promise<any>;
  LlamaLogLevel: { error: unknown };
}

function resolveInstalled(): string | undefined {
  try {
    return require.resolve('node-llama-cpp', { paths: [PREFIX] });
  } catch {
    return undefined;
  }
}

export async function loadNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  let entry = resolveInstalled();
  if (!entry) {
    fs.mkdirSync(PREFIX, { recursive: true });
    process.stderr.write(`installing node-llama-cpp@${NODE_LLAMA_CPP_VERSION} into ${path.relative(process.cwd(), PREFIX)} (once)\n`);
    execFileSync('npm', ['install', '--prefix', PREFIX, `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: ['ignore', 'ignore', 'inherit'] });
    entry = resolveInstalled();
    if (!entry) throw new Error(`node-llama-cpp did not install into ${PREFIX}`);
  }
  // ESM-only package: a real dynamic import from CommonJS.
  const load = new Function('url', 'return import(url)') as (url: string) => Promise<NodeLlamaCpp>;
  return load(pathToFileURL(entry).href);
}
