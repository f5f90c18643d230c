// Why a file is not something `lavin explain` can read as source text (empty, an image, binary),
// or undefined when it reads as text.

const SIGNATURES: [string, number[]][] = [
  ['a PNG image', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46, 0x2d]],
  ['a ZIP archive', [0x50, 0x4b, 0x03, 0x04]],
  ['a gzip archive', [0x1f, 0x8b]],
  ['an ELF executable', [0x7f, 0x45, 0x4c, 0x46]],
];
const IMAGES = /image$/;
/** Like git: a NUL byte in the first 8000 bytes means binary. */
const SNIFF_BYTES = 8000;

export function describeNonText(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return 'is empty (0 bytes): there is nothing to explain';
  let kind = SIGNATURES.find(([, sig]) => sig.every((b, i) => bytes[i] === b))?.[0];
  if (!kind && bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') kind = 'a WebP image';
  if (kind) return `is ${kind}, not text${IMAGES.test(kind) ? ' (to ask about an image: lavin ask --image FILE "question")' : ''}`;
  if (bytes.subarray(0, SNIFF_BYTES).includes(0)) return 'is binary (it contains NUL bytes), not text';
  // Other invalid UTF-8 (a Latin-1 comment, say) is still source code: decoded with replacement characters.
  return undefined;
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}
