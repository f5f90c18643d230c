// The "read from image" list under a question: the lines the OCR stage read from its image (the text
// the model was given), collapsible; hovering or focusing a line outlines its box on the thumbnail.

import type { ChatImage, ReadLine } from '../../extension/chat/messages';

/** The thumbnail in a frame that can carry the outline of a line's box. */
export function framedThumb(img: HTMLImageElement): { frame: HTMLElement; outline: HTMLElement } {
  const frame = document.createElement('span');
  frame.className = 'thumb-frame';
  const outline = document.createElement('span');
  outline.className = 'read-box';
  outline.hidden = true;
  frame.append(img, outline);
  return { frame, outline };
}

export function readFromImageList(lines: ReadLine[], image: ChatImage | undefined, thumb: HTMLImageElement | undefined, outline: HTMLElement | undefined): HTMLElement {
  const details = document.createElement('details');
  details.className = 'read-from-image';
  const summary = document.createElement('summary');
  summary.textContent = lines.length === 0 ? 'Read from image: no text' : `Read from image (${lines.length} line${lines.length === 1 ? '' : 's'})`;
  details.appendChild(summary);
  const list = document.createElement('ol');
  for (const line of lines) {
    const item = document.createElement('li');
    item.textContent = line.text;
    item.tabIndex = 0;
    item.title = `confidence ${(line.confidence * 100).toFixed(0)} %`;
    const show = () => {
      if (!thumb || !outline || !image?.width || !image.height || !thumb.clientWidth) return;
      const sx = thumb.clientWidth / image.width;
      const sy = thumb.clientHeight / image.height;
      const [x0, y0, x1, y1] = line.box;
      Object.assign(outline.style, { left: `${x0 * sx}px`, top: `${y0 * sy}px`, width: `${Math.max(2, (x1 - x0) * sx)}px`, height: `${Math.max(2, (y1 - y0) * sy)}px` });
      outline.hidden = false;
      item.classList.add('active');
    };
    const hide = () => {
      if (outline) outline.hidden = true;
      item.classList.remove('active');
    };
    item.addEventListener('mouseenter', show);
    item.addEventListener('focus', show);
    item.addEventListener('mouseleave', hide);
    item.addEventListener('blur', hide);
    list.appendChild(item);
  }
  details.appendChild(list);
  return details;
}

/** The route badge's words: the path and what the model saw on it. */
export function seenText(route: 'text' | 'image', seen: { visualTokens?: number; textLines?: number } | undefined): string {
  if (route === 'text') return 'text path';
  const parts: string[] = [];
  if (seen?.visualTokens !== undefined) parts.push(`${seen.visualTokens} visual tokens`);
  if (seen?.textLines !== undefined) parts.push(`${seen.textLines} line${seen.textLines === 1 ? '' : 's'} of text`);
  return parts.length ? `image path · ${parts.join(' + ')}` : 'image path';
}
