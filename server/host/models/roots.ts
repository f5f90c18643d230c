// Where each store keeps its models when nobody says otherwise, the way each tool itself decides.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

type Env = Record<string, string | undefined>;

/** $OLLAMA_MODELS, else ~/.ollama/models and the Linux service's /usr/share/ollama/.ollama/models. */
export function ollamaRoots(env: Env = process.env, home = os.homedir()): string[] {
  if (env.OLLAMA_MODELS) return [env.OLLAMA_MODELS];
  return [path.join(home, '.ollama', 'models'), '/usr/share/ollama/.ollama/models'];
}

/**
 * $LAVIN_LMSTUDIO_MODELS, else LM Studio's own downloadsFolder setting (~/.lmstudio/settings.json),
 * ~/.lmstudio/models and the older ~/.cache/lm-studio/models.
 */
export function lmStudioRoots(env: Env = process.env, home = os.homedir()): string[] {
  if (env.LAVIN_LMSTUDIO_MODELS) return [env.LAVIN_LMSTUDIO_MODELS];
  const roots: string[] = [];
  try {
    const settings = JSON.parse(fs.readFileSync(path.join(home, '.lmstudio', 'settings.json'), 'utf8')) as { downloadsFolder?: unknown };
    if (typeof settings.downloadsFolder === 'string' && settings.downloadsFolder) roots.push(settings.downloadsFolder);
  } catch {
    // no settings file, or not JSON: the defaults below
  }
  roots.push(path.join(home, '.lmstudio', 'models'), path.join(home, '.cache', 'lm-studio', 'models'));
  return [...new Set(roots)];
}

/** $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's own order). */
export function hfCacheRoots(env: Env = process.env, home = os.homedir()): string[] {
  if (env.HF_HUB_CACHE) return [env.HF_HUB_CACHE];
  if (env.HF_HOME) return [path.join(env.HF_HOME, 'hub')];
  const cache = env.XDG_CACHE_HOME || path.join(home, '.cache');
  return [path.join(cache, 'huggingface', 'hub')];
}
