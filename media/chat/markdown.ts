// Markdown -> sanitised HTML. Model output is untrusted: marked renders, DOMPurify strips anything
// active (scripts, handlers, javascript: URLs, forms, iframes), and links never navigate the webview.

import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

const languages: Record<string, Parameters<typeof hljs.registerLanguage>[1]> = {
  bash, c, cpp, css, diff, go, java, javascript, json, markdown, python, rust, shell, typescript, xml, yaml,
};
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);

const marked = new Marked({ gfm: true, breaks: false, async: false });

const purifyConfig = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'svg', 'math'],
  FORBID_ATTR: ['style', 'id', 'name', 'srcset'],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

/** Markdown to an element tree the caller can append; safe for untrusted input. */
export function renderMarkdown(source: string, doc: Document = document): DocumentFragment {
  const html = marked.parse(source) as string;
  const clean = DOMPurify.sanitize(html, purifyConfig) as string;
  const template = doc.createElement('template');
  template.innerHTML = clean;
  const fragment = template.content;
  for (const img of Array.from(fragment.querySelectorAll('img'))) {
    // No remote content: replace images from the answer with their alt text.
    img.replaceWith(doc.createTextNode(img.getAttribute('alt') ?? ''));
  }
  for (const a of Array.from(fragment.querySelectorAll('a'))) {
    a.setAttribute('title', a.getAttribute('href') ?? '');
    a.removeAttribute('target');
    a.setAttribute('rel', 'noopener noreferrer');
  }
  for (const code of Array.from(fragment.querySelectorAll('pre > code'))) highlight(code as HTMLElement);
  return fragment;
}

function highlight(code: HTMLElement): void {
  const langClass = Array.from(code.classList).find((c) => c.startsWith('language-'));
  const lang = langClass?.slice('language-'.length);
  const text = code.textContent ?? '';
  const result = lang && hljs.getLanguage(lang) ? hljs.highlight(text, { language: lang, ignoreIllegals: true }) : null;
  if (result) {
    // hljs escapes the text and only adds <span class="hljs-..."> wrappers; sanitise anyway.
    code.innerHTML = DOMPurify.sanitize(result.value, { ALLOWED_TAGS: ['span'], ALLOWED_ATTR: ['class'] }) as string;
    code.classList.add('hljs');
  }
}
