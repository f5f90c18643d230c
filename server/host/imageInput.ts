// Images arrive as base64 in chat messages over the protocol, or as bytes from the same process
// (the CLI: no encoding just to decode it again). LaVIN takes one image per request: the newest one wins.

import { ChatMessage, ChatParams, LavinErrorCodes } from '../protocol';
import { HostError } from './errors';

/** An image as it reaches the host: base64 (protocol) or the encoded file's bytes (in process). */
export type ImageInput = string | Uint8Array;

/** A chat message as the host takes it: the protocol's, or with image bytes. */
export interface HostChatMessage extends Omit<ChatMessage, 'images'> {
  images?: ImageInput[];
}

export interface HostChatParams extends Omit<ChatParams, 'messages'> {
  messages: HostChatMessage[];
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** base64 (optionally a data: URL) -> bytes; size checked before decoding. */
export function decodeImage(b64: string, maxBytes: number, what: string): Uint8Array {
  const body = b64.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  if (!BASE64.test(body)) throw new HostError(LavinErrorCodes.BadImage, `${what} is not base64 data`);
  const size = Math.floor((body.length * 3) / 4);
  if (size > maxBytes) {
    throw new HostError(LavinErrorCodes.BadImage, `${what} is too large: about ${mb(size)} exceeds the ${mb(maxBytes)} limit`);
  }
  const bytes = Buffer.from(body, 'base64');
  if (bytes.length === 0) throw new HostError(LavinErrorCodes.BadImage, `${what} is empty`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

function mb(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

export interface PickedImage {
  image?: Uint8Array;
  notices: string[];
}

/** Bytes given in process: the same size and emptiness checks as decoded base64. */
function checkBytes(bytes: Uint8Array, maxBytes: number, what: string): Uint8Array {
  if (bytes.length > maxBytes) throw new HostError(LavinErrorCodes.BadImage, `${what} is too large: about ${mb(bytes.length)} exceeds the ${mb(maxBytes)} limit`);
  if (bytes.length === 0) throw new HostError(LavinErrorCodes.BadImage, `${what} is empty`);
  return bytes;
}

export function pickImage(messages: HostChatMessage[], maxBytes: number): PickedImage {
  let chosen: { msg: number; idx: number; input: ImageInput } | undefined;
  let total = 0;
  messages.forEach((m, i) => {
    (m.images ?? []).forEach((input, j) => {
      total++;
      if (m.role === 'user') chosen = { msg: i, idx: j, input };
    });
  });
  if (!chosen) return { notices: total > 0 ? ['Images on assistant messages are ignored.'] : [] };
  const what = `messages[${chosen.msg}].images[${chosen.idx}]`;
  const image = typeof chosen.input === 'string' ? decodeImage(chosen.input, maxBytes, what) : checkBytes(chosen.input, maxBytes, what);
  const notices = total > 1 ? [`LaVIN looks at one image per answer: the newest one was used, ${total - 1} other(s) left out.`] : [];
  return { image, notices };
}
