// Errors the host raises on purpose, each with the JSON-RPC code the server answers with.
// Anything else that escapes is an internal error (-32603) with its message kept.

import { LavinErrorCodes } from '../protocol';

/** JSON-RPC codes used by the host besides the protocol's own. */
export const InvalidParams = -32602;
export const RequestCancelled = -32800;

export class HostError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'HostError';
  }
}

export const badParams = (message: string): HostError => new HostError(InvalidParams, message);
export const cancelled = (what: string): HostError => new HostError(RequestCancelled, `${what} was cancelled`);
export const busy = (message: string, activity: string): HostError => new HostError(LavinErrorCodes.Busy, message, { activity });

/** Image errors from the engine (size limit, undecodable bytes) deserve their own code. */
export function classifyEngineError(err: unknown): HostError {
  if (err instanceof HostError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/^image |not a supported image/.test(message)) return new HostError(LavinErrorCodes.BadImage, message);
  return new HostError(-32603, message);
}
