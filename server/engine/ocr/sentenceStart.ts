// A sentence starts with a capital. PP-OCRv4 reads a sentence-initial 'I' as 'l' or 'i' ('The proxy
// setting to use. lf not set'): in sans fonts I and l are the same bar, and the I's lack of a dot is
// all that tells it from i at small sizes, where the dot may merge with the stem. So in prose (a line
// without a monospace grid), a two-letter word read 'lf', 'ln', 'ls', 'lt' or 'if', 'in', 'is', 'it'
// right after a full stop, question or exclamation mark ending a lowercase word and a space is If,
// In, Is, It (the l-words are no English words; the i-words are never lowercase there). Not in code
// ('body.length', 'x. ls'), where the grid is found and a lowercase 'ls' or 'if' may well follow '.'.

const SENTENCE_I = /([a-z]{2}[.!?] )[li]([fnst])(?![\p{L}\p{N}])/gu;

export function sentenceCapitals(text: string): string {
  return text.replace(SENTENCE_I, '$1I$2');
}
