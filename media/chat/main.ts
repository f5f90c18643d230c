// The chat webview: renders the transcript the extension sends, streams tokens into the open answer,
// and collects the user's text and images. The extension owns the history; this page only draws it.

import type { ChatImage, ChatTurn, FromWebview, RawImage, ToWebview } from '../../extension/chat/messages';
import { renderMarkdown } from './markdown';
import { fileToChatImage, imageFilesFrom } from './images';
import { routerChart } from './routerChart';
import { framedThumb, readFromImageList, seenText } from './readFromImage';

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const transcript = $<HTMLDivElement>('transcript');
const empty = $<HTMLDivElement>('empty');
const form = $<HTMLFormElement>('composer');
const input = $<HTMLTextAreaElement>('input');
const attachments = $<HTMLDivElement>('attachments');
const sendButton = $<HTMLButtonElement>('send');
const stopButton = $<HTMLButtonElement>('stop');
const dropHint = $<HTMLDivElement>('dropHint');

let turns: ChatTurn[] = [];
let busy = false;
let pending: ChatImage[] = [];
/** Answers whose markdown must be re-rendered on the next frame (token batching). */
const dirty = new Set<string>();
let frameRequested = false;

// Draft text and attachments survive the view being hidden and shown again.
const saved = vscode.getState() as { draft?: string; pending?: ChatImage[] } | undefined;
if (saved?.draft) input.value = saved.draft;
if (saved?.pending) pending = saved.pending;
renderAttachments();

function post(message: FromWebview): void {
  vscode.postMessage(message);
}

function saveDraft(): void {
  vscode.setState({ draft: input.value, pending });
}

// ---------------------------------------------------------------- transcript

function renderAll(): void {
  transcript.replaceChildren(...turns.map(turnElement));
  empty.hidden = turns.length > 0;
  scrollToEnd(true);
}

function turnElement(turn: ChatTurn): HTMLElement {
  const el = document.createElement('article');
  el.className = `turn ${turn.role}`;
  el.dataset.id = turn.id;
  el.setAttribute('aria-label', turn.role === 'user' ? 'You' : 'LaVIN');
  fillTurn(el, turn);
  return el;
}

function fillTurn(el: HTMLElement, turn: ChatTurn): void {
  el.replaceChildren();
  el.classList.toggle('streaming', !!turn.streaming);
  const header = document.createElement('header');
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = turn.role === 'user' ? 'You' : 'LaVIN';
  header.appendChild(who);
  if (turn.label) {
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = turn.label;
    header.appendChild(label);
  }
  if (turn.role === 'assistant' && turn.route) header.appendChild(routeBadge(el, turn));
  if (turn.role === 'assistant' && turn.stats && !turn.streaming) {
    const stats = document.createElement('span');
    stats.className = 'stats';
    const { tokens, tokensPerSecond, stopReason, firstTokenMs, promptTokens, reusedPromptTokens } = turn.stats;
    stats.textContent = `${tokens} tok · ${tokensPerSecond.toFixed(1)} tok/s`;
    if (firstTokenMs !== undefined) stats.textContent += ` · first token ${(firstTokenMs / 1000).toFixed(2)} s`;
    if (stopReason === 'aborted') stats.textContent += ' · stopped';
    if (promptTokens !== undefined) {
      stats.title = `prompt ${promptTokens} tokens` + (reusedPromptTokens ? `, ${reusedPromptTokens} of them reused from the previous answer` : '');
    }
    header.appendChild(stats);
  }
  el.appendChild(header);

  let readThumb: { img: HTMLImageElement; outline: HTMLElement } | undefined;
  if (turn.images?.length) {
    const row = document.createElement('div');
    row.className = 'turn-images';
    turn.images.forEach((image, i) => {
      const img = thumbImage(image);
      // the text is read from the newest image (the one LaVIN looks at)
      if (turn.imageLines && i === turn.images!.length - 1) {
        const { frame, outline } = framedThumb(img);
        readThumb = { img, outline };
        row.appendChild(frame);
      } else row.appendChild(img);
    });
    el.appendChild(row);
  }
  const body = document.createElement('div');
  body.className = 'body';
  if (turn.role === 'assistant') {
    body.appendChild(renderMarkdown(turn.text));
    addCodeButtons(body);
    if (turn.streaming) {
      const cursor = document.createElement('span');
      cursor.className = 'cursor';
      cursor.setAttribute('aria-hidden', 'true');
      body.appendChild(cursor);
    }
  } else {
    body.textContent = turn.text;
  }
  el.appendChild(body);
  if (turn.role === 'user' && turn.imageLines) {
    el.appendChild(readFromImageList(turn.imageLines, turn.images?.at(-1), readThumb?.img, readThumb?.outline));
  }
  for (const notice of turn.notices ?? []) {
    const p = document.createElement('p');
    p.className = 'notice';
    p.textContent = notice;
    el.appendChild(p);
  }
  if (turn.error) {
    const p = document.createElement('p');
    p.className = 'error';
    p.setAttribute('role', 'alert');
    p.textContent = turn.error;
    el.appendChild(p);
  }
}

function routeBadge(el: HTMLElement, turn: ChatTurn): HTMLElement {
  const badge = document.createElement('button');
  badge.type = 'button';
  badge.className = `badge route-${turn.route}`;
  badge.textContent = seenText(turn.route ?? 'text', turn.seen);
  badge.title = 'Show the router weights of each layer';
  badge.setAttribute('aria-expanded', 'false');
  badge.addEventListener('click', () => {
    const open = el.querySelector('.router-chart');
    if (open) {
      open.remove();
      badge.setAttribute('aria-expanded', 'false');
    } else {
      el.appendChild(routerChart(turn.routerWeights ?? []));
      badge.setAttribute('aria-expanded', 'true');
    }
  });
  return badge;
}

function thumbImage(image: ChatImage): HTMLImageElement {
  const img = document.createElement('img');
  img.className = 'thumb';
  img.alt = image.name;
  img.title = image.name;
  // Only data: URLs we made ourselves; never a remote source.
  if (image.thumb.startsWith('data:image/')) img.src = image.thumb;
  return img;
}

function addCodeButtons(body: HTMLElement): void {
  for (const pre of Array.from(body.querySelectorAll('pre'))) {
    const code = pre.querySelector('code')?.textContent ?? pre.textContent ?? '';
    const bar = document.createElement('div');
    bar.className = 'code-actions';
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', 'Copy code');
    copy.addEventListener('click', () => {
      post({ type: 'copyCode', code });
      copy.textContent = 'Copied';
      setTimeout(() => (copy.textContent = 'Copy'), 1200);
    });
    const insert = document.createElement('button');
    insert.type = 'button';
    insert.className = 'insert';
    insert.textContent = 'Insert';
    insert.setAttribute('aria-label', 'Insert code at the cursor');
    insert.addEventListener('click', () => post({ type: 'insertCode', code }));
    bar.append(copy, insert);
    pre.before(bar);
  }
}

function scheduleRender(id: string): void {
  dirty.add(id);
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    for (const turnId of dirty) {
      const turn = turns.find((t) => t.id === turnId);
      const el = transcript.querySelector<HTMLElement>(`article[data-id="${CSS.escape(turnId)}"]`);
      if (turn && el) fillTurn(el, turn);
    }
    dirty.clear();
    scrollToEnd();
  });
}

/** Follows the stream unless the user scrolled up to read. */
let followOutput = true;
transcript.addEventListener('scroll', () => {
  followOutput = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
});

function scrollToEnd(force = false): void {
  if (force || followOutput) transcript.scrollTop = transcript.scrollHeight;
}

function upsert(turn: ChatTurn): void {
  const i = turns.findIndex((t) => t.id === turn.id);
  if (i >= 0) {
    turns[i] = turn;
    scheduleRender(turn.id);
  } else {
    turns.push(turn);
    transcript.appendChild(turnElement(turn));
    empty.hidden = true;
    scrollToEnd(turn.role === 'user');
  }
}

function setBusy(value: boolean): void {
  busy = value;
  stopButton.hidden = !busy;
  sendButton.disabled = busy;
  document.body.classList.toggle('busy', busy);
}

// ---------------------------------------------------------------- composer

function renderAttachments(): void {
  attachments.replaceChildren(
    ...pending.map((image, index) => {
      const chip = document.createElement('div');
      chip.className = 'attachment';
      chip.appendChild(thumbImage(image));
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'remove';
      remove.textContent = '×';
      remove.title = `Remove ${image.name}`;
      remove.setAttribute('aria-label', `Remove ${image.name}`);
      remove.addEventListener('click', () => {
        pending.splice(index, 1);
        renderAttachments();
        input.focus();
      });
      chip.appendChild(remove);
      return chip;
    }),
  );
  attachments.hidden = pending.length === 0;
  saveDraft();
}

async function addFiles(files: File[]): Promise<void> {
  for (const file of files) {
    try {
      pending.push(await fileToChatImage(file));
    } catch (err) {
      showComposerError(err instanceof Error ? err.message : String(err));
    }
  }
  renderAttachments();
}

function showComposerError(message: string): void {
  const p = document.createElement('p');
  p.className = 'error composer-error';
  p.setAttribute('role', 'alert');
  p.textContent = message;
  form.prepend(p);
  setTimeout(() => p.remove(), 6000);
}

async function compose(images: RawImage[], text: string | undefined, submit: boolean | undefined): Promise<void> {
  await addFiles(images.map((i) => new File([fromBase64(i.data)], i.name, { type: i.mime })));
  if (text !== undefined) input.value = text;
  saveDraft();
  if (submit) send();
  else input.focus();
}

function fromBase64(data: string): Uint8Array<ArrayBuffer> {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function send(): void {
  const text = input.value.trim();
  if (busy || (!text && pending.length === 0)) return;
  post({ type: 'send', text, images: pending });
  input.value = '';
  pending = [];
  renderAttachments();
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  } else if (e.key === 'Escape' && busy) {
    post({ type: 'stop' });
  }
});
input.addEventListener('input', saveDraft);
stopButton.addEventListener('click', () => post({ type: 'stop' }));
$<HTMLButtonElement>('newChat').addEventListener('click', () => post({ type: 'newChat' }));
$<HTMLButtonElement>('attach').addEventListener('click', () => post({ type: 'pickImage' }));

document.addEventListener('paste', (e) => {
  const { images } = imageFilesFrom(e.clipboardData);
  if (images.length === 0) return; // plain text pastes go to the textarea as usual
  e.preventDefault();
  void addFiles(images);
});

let dragDepth = 0;
document.addEventListener('dragenter', (e) => {
  if (!e.dataTransfer?.types.includes('Files')) return;
  dragDepth++;
  dropHint.hidden = false;
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dropHint.hidden = true;
});
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
});
document.addEventListener('drop', (e) => {
  e.preventDefault();
  dragDepth = 0;
  dropHint.hidden = true;
  const { images, others } = imageFilesFrom(e.dataTransfer);
  for (const f of others) showComposerError(`${f.name}: only PNG, JPEG and WebP images can be attached`);
  void addFiles(images);
});

// ---------------------------------------------------------------- extension messages

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const msg = event.data;
  switch (msg?.type) {
    case 'state':
      turns = msg.turns;
      renderAll();
      setBusy(msg.busy);
      break;
    case 'turn':
      upsert(msg.turn);
      break;
    case 'token': {
      const turn = turns.find((t) => t.id === msg.id);
      if (turn) {
        turn.text += msg.text;
        scheduleRender(turn.id);
      }
      break;
    }
    case 'done':
      upsert(msg.turn);
      break;
    case 'busy':
      setBusy(msg.busy);
      break;
    case 'compose':
      void compose(msg.images, msg.text, msg.submit);
      break;
    case 'focusInput':
      input.focus();
      break;
  }
});

window.addEventListener('error', (e) => post({ type: 'webviewError', message: String(e.message) }));

setBusy(false);
post({ type: 'ready' });
