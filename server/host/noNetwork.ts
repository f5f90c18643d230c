// The backend promises never to open a network connection. This makes the promise hold even for
// code we do not own (dependencies): outgoing sockets, DNS and fetch throw instead.
// Pipes to our parent (stdio) are file descriptors, not connections, and stay untouched.

// `import x = require()` gives the real module objects (not interop copies), so patches reach every user.
import dns = require('dns');
import http = require('http');
import https = require('https');
import net = require('net');
import tls = require('tls');

export class NetworkDisabledError extends Error {
  constructor(what: string) {
    super(`LaVIN Code works offline: ${what} is disabled in this process`);
    this.name = 'NetworkDisabledError';
  }
}

let installed = false;

export function disableNetwork(): void {
  if (installed) return;
  installed = true;
  const refuse = (what: string) => () => {
    throw new NetworkDisabledError(what);
  };
  const patch = (target: object, key: string, what: string) => Object.defineProperty(target, key, { value: refuse(what), configurable: true, writable: true });
  patch(net.Socket.prototype, 'connect', 'net.Socket.connect');
  patch(net, 'connect', 'net.connect');
  patch(net, 'createConnection', 'net.createConnection');
  patch(tls, 'connect', 'tls.connect');
  for (const mod of [http, https]) {
    patch(mod, 'request', 'an HTTP request');
    patch(mod, 'get', 'an HTTP request');
  }
  patch(dns, 'lookup', 'DNS lookup');
  patch(dns, 'resolve', 'DNS lookup');
  if (typeof globalThis.fetch === 'function') patch(globalThis, 'fetch', 'fetch');
}
