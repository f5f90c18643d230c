// The chat webview's HTML shell. No vscode import, so the Chromium tests build the very same page.

import { randomBytes } from 'crypto';

export interface ChatHtmlOptions {
  /** webview.cspSource: the only origin scripts, styles and fonts may come from. */
  cspSource: string;
  /** Random per page load; only scripts carrying it run. */
  nonce: string;
  scriptUri: string;
  styleUri: string;
}

export function chatHtml(o: ChatHtmlOptions): string {
  // img-src allows data:/blob: for pasted image thumbnails; nothing remote is ever allowed.
  const csp = [
    "default-src 'none'",
    `img-src ${o.cspSource} data: blob:`,
    `style-src ${o.cspSource}`,
    `font-src ${o.cspSource}`,
    `script-src 'nonce-${o.nonce}'`,
    "connect-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(o.styleUri)}">
<title>LaVIN Chat</title>
</head>
<body>
<main id="app">
  <div id="transcript" role="log" aria-live="polite" aria-label="Conversation"></div>
  <div id="empty" class="empty">
    <p><strong>Ask LaVIN</strong> about your code or a screenshot.</p>
    <p>Paste an image (Ctrl+V), drop one here, or use the image button. Everything runs locally.</p>
  </div>
  <form id="composer" aria-label="Message composer">
    <div id="attachments" class="attachments" aria-label="Attached images"></div>
    <textarea id="input" rows="3" placeholder="Ask about code or an image (Enter to send, Shift+Enter for a new line)" aria-label="Message"></textarea>
    <div class="actions">
      <button type="button" id="attach" class="secondary" title="Attach an image" aria-label="Attach an image">Image…</button>
      <button type="button" id="newChat" class="secondary" title="Start a new chat" aria-label="New chat">New chat</button>
      <span class="spacer"></span>
      <button type="button" id="stop" class="secondary" hidden aria-label="Stop generating">Stop</button>
      <button type="submit" id="send" aria-label="Send">Send</button>
    </div>
    <div id="dropHint" class="drop-hint" hidden>Drop image to attach</div>
  </form>
</main>
<script nonce="${escapeAttr(o.nonce)}" src="${escapeAttr(o.scriptUri)}"></script>
</body>
</html>`;
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, 'x');
}
