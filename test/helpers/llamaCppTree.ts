// llama.cpp's own source tree at the version node-llama-cpp 3.21.1 bundles, for tests that compare
// with it: the vocab-only `models/ggml-vocab-*.gguf` files with their `.inp`/`.out` tokenizer test
// vectors, the chat templates in `models/templates/`, and src/ for tables. node-llama-cpp keeps the tree
// as a git bundle; it is cloned once (git, no network) into .cache/llama.cpp-<version>/.

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadNodeLlamaCpp, NODE_LLAMA_CPP_VERSION } from '../../bench/llamaCpp';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BUNDLE = path.join(ROOT, '.cache', 'bench-deps', 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle');
const TREE = path.join(ROOT, '.cache', `llama.cpp-${NODE_LLAMA_CPP_VERSION}`);
/** The parts of the tree the tests read. */
const PATHS = ['models', 'src/unicode-data.cpp', 'tests/test-tokenizer-0.cpp'];

let pending: Promise<string> | undefined;

/** The root of the checked-out tree (cloned on first use). */
export function llamaCppTree(): Promise<string> {
  return (pending ??= checkout());
}

/** The tree's models/ folder (ggml-vocab-*.gguf with .inp/.out, templates/). */
export async function llamaCppModelsDir(): Promise<string> {
  return path.join(await llamaCppTree(), 'models');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Test files run in parallel processes: one of them installs and clones, the others wait for it. */
async function checkout(): Promise<string> {
  const lock = `${TREE}.lock`;
  for (const deadline = Date.now() + 15 * 60_000; Date.now() < deadline;) {
    if (fs.existsSync(path.join(TREE, '.complete'))) return TREE;
    try {
      fs.mkdirSync(path.dirname(lock), { recursive: true });
      fs.mkdirSync(lock);
    } catch {
      // held by another process; a lock left by a killed one goes stale after 10 minutes
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 10 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      await sleep(500);
      continue;
    }
    try {
      return await checkoutLocked();
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  throw new Error(`timed out waiting for ${lock} (another test process checking out llama.cpp)`);
}

async function checkoutLocked(): Promise<string> {
  if (fs.existsSync(path.join(TREE, '.complete'))) return TREE;
  // installs node-llama-cpp (and with it the bundle) into .cache/bench-deps on first use
  if (!fs.existsSync(BUNDLE)) await loadNodeLlamaCpp();
  if (!fs.existsSync(BUNDLE)) throw new Error(`node-llama-cpp ${NODE_LLAMA_CPP_VERSION} has no llama.cpp bundle at ${BUNDLE}`);
  const tmp = `${TREE}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const git = (args: string[], cwd?: string) => execFileSync('git', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    git(['clone', '--quiet', '--no-checkout', BUNDLE, tmp]);
    git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', 'HEAD', '--', ...PATHS], tmp);
    fs.writeFileSync(path.join(tmp, '.complete'), `${NODE_LLAMA_CPP_VERSION}\n`);
    fs.rmSync(TREE, { recursive: true, force: true }); // an unfinished earlier checkout
    fs.renameSync(tmp, TREE);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`cannot check out llama.cpp from ${BUNDLE}: ${(err as Error).message}`);
  }
  return TREE;
}

/** One vocabulary's test vectors, read as llama.cpp's tests/test-tokenizer-0.cpp reads them. */
export interface VocabTestVectors {
  name: string;
  gguf: string;
  cases: Array<{ input: string; ids: number[] }>;
}

export function readVocabTestVectors(gguf: string): VocabTestVectors {
  const inp = fs.readFileSync(`${gguf}.inp`, 'utf8');
  const outLines = fs.readFileSync(`${gguf}.out`, 'utf8').split('\n');
  if (outLines[outLines.length - 1] === '') outLines.pop();
  const sep = '\n__ggml_vocab_test__\n';
  const inputs: string[] = [];
  for (let pos = 0; pos < inp.length;) {
    const next = inp.indexOf(sep, pos);
    if (next < 0) {
      inputs.push(inp.slice(pos));
      break;
    }
    inputs.push(inp.slice(pos, next));
    pos = next + sep.length;
  }
  if (inputs.length !== outLines.length) {
    throw new Error(`${gguf}: ${inputs.length} inputs but ${outLines.length} outputs`);
  }
  const cases = inputs.map((input, i) => {
    const line = outLines[i].trim();
    return { input, ids: line === '' ? [] : line.split(' ').map(Number) };
  });
  return { name: path.basename(gguf).replace(/^ggml-vocab-|\.gguf$/g, ''), gguf, cases };
}

/** Every ggml-vocab-*.gguf in the tree that has test vectors. */
export async function vocabFilesWithVectors(): Promise<string[]> {
  const dir = await llamaCppModelsDir();
  return fs
    .readdirSync(dir)
    .filter((f) => /^ggml-vocab-.*\.gguf$/.test(f) && fs.existsSync(path.join(dir, `${f}.inp`)))
    .sort()
    .map((f) => path.join(dir, f));
}
