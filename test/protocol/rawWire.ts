// Raw Content-Length framing for tests that must send bytes no well-behaved client would.

import { ChildProcess } from 'child_process';

export interface RawResponse {
  jsonrpc: string;
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string };
  method?: string;
  params?: unknown;
}

export class RawWire {
  private buffer = Buffer.alloc(0);
  private readonly messages: RawResponse[] = [];
  private waiters: (() => void)[] = [];

  constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end < 0) break;
        const m = /Content-Length: (\d+)/i.exec(this.buffer.subarray(0, end).toString());
        if (!m) throw new Error(`server wrote a frame without Content-Length: ${this.buffer.subarray(0, end)}`);
        const len = Number(m[1]);
        if (this.buffer.length < end + 4 + len) break;
        this.messages.push(JSON.parse(this.buffer.subarray(end + 4, end + 4 + len).toString()));
        this.buffer = this.buffer.subarray(end + 4 + len);
      }
      const w = this.waiters;
      this.waiters = [];
      w.forEach((f) => f());
    });
  }

  bytes(data: string | Buffer): void {
    this.child.stdin!.write(data);
  }

  frame(body: string): void {
    this.bytes(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  send(message: object): void {
    this.frame(JSON.stringify(message));
  }

  /** Next message (response or notification) matching `pred`, in arrival order. */
  async next(pred: (m: RawResponse) => boolean, timeoutMs = 10_000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map((m) => m.id ?? m.method))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  /** A response to the request with this id. */
  response(id: number | string | null): Promise<RawResponse> {
    return this.next((m) => m.method === undefined && m.id === id);
  }
}
