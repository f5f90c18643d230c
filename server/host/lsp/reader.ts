// A JSON-RPC reader for stdio that answers bad input instead of dropping it.
// vscode-jsonrpc's own reader stops on a bad header and silently drops unparsable bodies; this one
// answers per JSON-RPC 2.0 (-32700 parse error / -32600 invalid request, id null when unknown),
// re-synchronises on the next header, and keeps the server up.

import { AbstractMessageReader, DataCallback, Disposable, Message } from 'vscode-jsonrpc/node';

export interface BadMessage {
  code: number;
  message: string;
  id: number | string | null;
}

export const ParseError = -32700;
export const InvalidRequest = -32600;

const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 8 * 1024;
/** Largest accepted message: 20 MB images travel as base64 (x4/3) with room to spare. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class TolerantMessageReader extends AbstractMessageReader {
  private buffer: Buffer = Buffer.alloc(0);
  /** Bytes of an over-long body still to skip. */
  private skipping = 0;
  private callback: DataCallback | null = null;

  constructor(
    private readonly readable: NodeJS.ReadableStream,
    private readonly onBadMessage: (bad: BadMessage) => void,
  ) {
    super();
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback;
    const onData = (chunk: Buffer) => this.onData(chunk);
    const onError = (err: Error) => this.fireError(err);
    const onClose = () => this.fireClose();
    this.readable.on('data', onData);
    this.readable.on('error', onError);
    this.readable.on('end', onClose);
    this.readable.on('close', onClose);
    return Disposable.create(() => {
      this.readable.off('data', onData);
      this.readable.off('error', onError);
      this.readable.off('end', onClose);
      this.readable.off('close', onClose);
      this.callback = null;
    });
  }

  private onData(chunk: Buffer): void {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, chunk.length);
      this.skipping -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const headerEnd = this.buffer.indexOf(HEADER_END);
      if (headerEnd < 0) {
        if (this.buffer.length > MAX_HEADER_BYTES) {
          this.bad(ParseError, `no message header end (\\r\\n\\r\\n) within ${MAX_HEADER_BYTES} bytes; input discarded`);
          this.buffer = Buffer.alloc(0);
        }
        return;
      }
      const header = this.buffer.subarray(0, headerEnd).toString('ascii');
      const length = contentLength(header);
      if (length === undefined) {
        this.bad(ParseError, `message header without a valid Content-Length: ${JSON.stringify(header.slice(0, 200))}`);
        this.buffer = this.buffer.subarray(headerEnd + HEADER_END.length);
        continue;
      }
      const bodyStart = headerEnd + HEADER_END.length;
      if (length > MAX_MESSAGE_BYTES) {
        this.bad(InvalidRequest, `message of ${length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit; skipped`);
        const have = this.buffer.length - bodyStart;
        this.skipping = Math.max(0, length - have);
        this.buffer = this.buffer.subarray(Math.min(this.buffer.length, bodyStart + length));
        if (this.skipping > 0) return;
        continue;
      }
      if (this.buffer.length < bodyStart + length) return;
      const body = this.buffer.subarray(bodyStart, bodyStart + length).toString('utf8');
      this.buffer = this.buffer.subarray(bodyStart + length);
      this.deliver(body);
    }
  }

  private deliver(body: string): void {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (err) {
      this.bad(ParseError, `message body is not valid JSON: ${(err as Error).message}`);
      return;
    }
    const problem = invalidMessage(value);
    if (problem) {
      const id = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { id?: unknown }).id : undefined;
      this.bad(InvalidRequest, problem, typeof id === 'number' || typeof id === 'string' ? id : null);
      return;
    }
    this.callback?.(value as Message);
  }

  private bad(code: number, message: string, id: number | string | null = null): void {
    this.onBadMessage({ code, message, id });
  }
}

function contentLength(header: string): number | undefined {
  for (const line of header.split('\r\n')) {
    const m = /^content-length\s*:\s*(\d+)\s*$/i.exec(line);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** Why a parsed value is not a JSON-RPC 2.0 message, or undefined when it is one. */
export function invalidMessage(value: unknown): string | undefined {
  if (Array.isArray(value)) return 'batch messages are not supported; send one message per frame';
  if (typeof value !== 'object' || value === null) return 'a message must be a JSON object';
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return 'message lacks "jsonrpc": "2.0"';
  if ('id' in m && m.id !== null && typeof m.id !== 'number' && typeof m.id !== 'string') return '"id" must be a number or a string';
  if ('method' in m) {
    if (typeof m.method !== 'string') return '"method" must be a string';
    if ('params' in m && m.params !== undefined && (typeof m.params !== 'object' || m.params === null)) return '"params" must be an object or an array';
    return undefined;
  }
  if ('id' in m && ('result' in m || 'error' in m)) return undefined;
  return 'message is neither a request, a notification nor a response';
}
