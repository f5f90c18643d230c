// A GGUF file's facts for the listing, from the engine's own GGUF reader (engine/weights/gguf.ts):
// the same checks that loading makes (truncation, architecture, hyper-parameters) decide whether a
// file is usable. When it is not, what could be read (architecture, parameters) is still shown.

import { backboneSpecOf, GgufFile } from '../../engine/weights/gguf';
import { SpecReader, UnusableFileError } from './describe';

export const readGgufFacts: SpecReader = async (file) => {
  // The reader is synchronous (a 128k-word vocabulary is a few hundred ms): let the server's other
  // work (a streaming answer) run between files.
  await new Promise((resolve) => setImmediate(resolve));
  const f = GgufFile.open(file);
  try {
    const arch = f.metadata.get('general.architecture');
    let parameters = 0;
    for (const t of f.tensors.values()) parameters += t.nElements;
    try {
      const spec = backboneSpecOf(f);
      return { arch: spec.arch, name: spec.name, contextLength: spec.contextLength, fileType: spec.fileType, llama: spec.llama, parameters: spec.nParams };
    } catch (e) {
      throw new UnusableFileError((e as Error).message, { arch: typeof arch === 'string' ? arch : undefined, parameters });
    }
  } finally {
    f.close();
  }
};
