// A GGUF file's facts for the listing, from the engine's own GGUF reader (engine/weights/gguf.ts):
// the same checks that loading makes (truncation, architecture, hyper-parameters, tensor types)
// decide whether a file is usable. When it is not, what could be read (architecture, parameters)
// is still shown. The weights' memory is counted tensor by tensor as openBackbone holds them.

import { engineNameOfGguf, expectedBackboneShapes } from '../../engine/weights/backbone';
import { backboneSpecOf, GgufFile, GgufTensorInfo } from '../../engine/weights/gguf';
import { GGUF_FLOAT_TYPES, GGUF_QUANT_TYPES, GgufQuantType, isReadableType, TARGET } from '../../engine/weights/ggufQuants';
import { SpecReader, UnusableFileError } from './describe';

export const readGgufFacts: SpecReader = async (file) => {
  // The reader is synchronous: let the server's other work (a streaming answer) run between files.
  await new Promise((resolve) => setImmediate(resolve));
  const f = GgufFile.open(file, { arrays: false });
  try {
    const arch = f.metadata.get('general.architecture');
    let parameters = 0;
    for (const t of f.tensors.values()) parameters += t.nElements;
    try {
      const spec = backboneSpecOf(f);
      const expected = expectedBackboneShapes(spec);
      const byEngine = new Map<string, GgufTensorInfo>();
      for (const info of f.tensors.values()) {
        const name = engineNameOfGguf(info.name);
        if (name && expected.has(name)) byEngine.set(name, info);
      }
      // What openBackbone checks before reading a byte: every tensor there, its shape, a type it reads.
      let weightBytes = 0;
      for (const [name, shape] of expected) {
        const info = byEngine.get(name);
        if (!info) throw new Error(`${file}: the model's tensor ${name} is missing from the file`);
        if (info.shape.join(',') !== shape.join(',')) throw new Error(`${file}: tensor ${info.name} is [${info.shape}], the metadata says [${shape}]`);
        if (!isReadableType(info.typeName)) {
          throw new Error(`${file}: tensor ${info.name}: type ${info.typeName} is not supported (supported: ${[...GGUF_FLOAT_TYPES, ...GGUF_QUANT_TYPES].join(', ')})`);
        }
        // The embedding table is read row by row from the file unless it is also the (tied) head.
        if (name === 'tok_embeddings.weight' && !spec.llama.tiedEmbeddings) continue;
        weightBytes += heldBytes(info);
      }
      return { arch: spec.arch, name: spec.name, contextLength: spec.contextLength, fileType: spec.fileType, llama: spec.llama, parameters: spec.nParams, weightBytes };
    } catch (e) {
      throw new UnusableFileError((e as Error).message, { arch: typeof arch === 'string' ? arch : undefined, parameters });
    }
  } finally {
    f.close();
  }
};

/** Bytes one tensor takes once opened: floats as stored, 2-D quantised weights in their MatMulNBits blocks. */
export function heldBytes(info: GgufTensorInfo): number {
  if ((GGUF_FLOAT_TYPES as readonly string[]).includes(info.typeName)) return info.nBytes;
  if (info.shape.length !== 2) return 4 * info.nElements; // widened to float32 (small)
  const [n, k] = info.shape;
  const t = TARGET[info.typeName as GgufQuantType];
  const blocks = Math.ceil(k / t.block);
  return n * blocks * ((t.block * t.bits) / 8) + n * blocks * 4 * (t.offsets ? 2 : 1) + n * Math.ceil((blocks * t.bits) / 8);
}
