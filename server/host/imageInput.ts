// Images arrive as base64 in chat messages. LaVIN takes one image per request: the newest one wins.

import { ChatMessage, LavinErrorCodes } from '../protocol';
import { HostError } from './errors';

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

export function pickImage(messages: ChatMessage[], maxBytes: number): PickedImage {
  let chosen: { msg: number; idx: number; b64: string } | undefined;
  let total = 0;
  messages.forEach((m, i) => {
    (m.images ?? []).forEach((b64, j) => {
      total++;
      if (m.role === 'user') chosen = { msg: i, idx: j, b64 };
    });
  });
  if (!chosen) return { notices: total > 0 ? ['Images on assistant messages are ignored.'] : [] };
  const image = decodeImage(chosen.b64, maxBytes, `messages[${chosen.msg}].images[${chosen.idx}]`);
  const notices = total > 1 ? [`LaVIN looks at one image per answer: the newest one was used, ${total - 1} other(s) left out.`] : [];
  return { image, notices };
}
