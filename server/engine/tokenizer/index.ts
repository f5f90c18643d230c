// Tokenizers: the Tokenizer interface, LaVIN's SentencePiece model (tokenizer.model), and llama.cpp's
// SPM / byte-level BPE tokenizers over GGUF metadata or a Hugging Face tokenizer.json.

export type { EncodeOptions, StreamDecoder, Tokenizer } from './tokenizerTypes';
export { SentencePieceModelTokenizer, parseSentencePieceModel, type SentencePieceModelInfo } from './sentencePieceModel';
export { SentencePieceModelTokenizer as LlamaTokenizer } from './sentencePieceModel';
export { tokenizerFromGguf, tokenizerFromGgufFile, vocabSpecFromGguf, type GgufMetadata } from './fromGguf';
export { chatPromptIds, chatTemplateRenderer, modelChatRenderer, type ChatMessage, type ChatRenderer } from './chatTemplate';
export { VocabTokenizer } from './vocabTokenizer';
export { isSentencePieceStyle, tokenizerFromHfFolder, vocabSpecFromHfFolder } from './fromHfFolder';
