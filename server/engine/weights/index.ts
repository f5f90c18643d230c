// Checkpoint readers: PyTorch .pth (zip + safe unpickler), TorchScript archives, safetensors, and the
// LLaMA / CLIP / LaVIN-adapter loaders built on them. No Python anywhere.
export { CheckpointError, displayName } from './weightErrors';
export type { TensorFile, TensorInfo } from './types';
export { openTensorFile, sniffFormat, type CheckpointFormat } from './tensorFile';
export { PthFile } from './pth';
export { SafetensorsFile, SAFETENSORS_DTYPES } from './safetensors';
export { ZipReader, type ZipEntry } from './zip';
export { unpickle, PyObject, type SafeCallable, type UnpickleOptions } from './pickle';
export { TensorRef, StorageRef, resolveTorchGlobal } from './torchPickle';
export { loadLlama, openLlama, llamaShardRule, expectedLlamaShapes, type LlamaParams, type LlamaCheckpoint, type ShardRule } from './llama';
export { loadClip, type ClipConfig, type LoadedClip, type ClipSourceKind } from './clip';
export { loadAdapter, DEFAULT_TEMPERATURE, type AdapterArgs, type LoadedAdapter } from './adapter';
export { concatTensors, transpose2d } from './ops';
