// Messages between the chat webview (media/chat/) and its view provider (chatViewProvider.ts).
// Types only: the webview bundle imports this file too, so it must not import vscode or Node.

export type Route = 'text' | 'image';

/** An image attached to a user turn. `data` is base64 without a data: prefix. */
export interface ChatImage {
  name: string;
  mime: string;
  /** Full image, base64. Dropped from persisted history (only the thumbnail is kept). */
  data?: string;
  /** Small data: URL shown in the transcript. */
  thumb: string;
  /** The full image's size in pixels (the read-text boxes are in these pixels). */
  width?: number;
  height?: number;
}

/** A line of text read from the question's image; box [x0, y0, x1, y1] in the image's pixels. */
export interface ReadLine {
  text: string;
  box: [number, number, number, number];
  confidence: number;
}

export interface AnswerStats {
  tokens: number;
  tokensPerSecond: number;
  stopReason: string;
  /** From the request to the first token: reading the image's text, waiting in the queue, the ViT and the prompt. */
  firstTokenMs?: number;
  promptTokens?: number;
  /** Prompt tokens the previous answer's KV cache supplied (not computed again). */
  reusedPromptTokens?: number;
}

export interface ChatTurn {
  id: string;
  role: 'user' | 'assistant';
  text: string;
  images?: ChatImage[];
  /** Shown above a user turn that carries code (e.g. "Explain app.ts:10-20"). */
  label?: string;
  route?: Route;
  routerWeights?: number[][];
  stats?: AnswerStats;
  /** User turn with an image: the lines read from it (what the model was given as context). */
  imageLines?: ReadLine[];
  /** Answer turn: what the model saw (visual tokens of the image, lines of read text). */
  seen?: { visualTokens?: number; textLines?: number };
  notices?: string[];
  error?: string;
  /** True while tokens are still arriving. */
  streaming?: boolean;
}

/** Webview -> extension. */
export type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; text: string; images: ChatImage[] }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'pickImage' }
  | { type: 'copyCode'; code: string }
  | { type: 'insertCode'; code: string }
  | { type: 'webviewError'; message: string };

/** Extension -> webview. */
export type ToWebview =
  | { type: 'state'; turns: ChatTurn[]; busy: boolean }
  | { type: 'turn'; turn: ChatTurn }
  | { type: 'token'; id: string; text: string }
  | { type: 'done'; turn: ChatTurn }
  | { type: 'busy'; busy: boolean }
  /** Put images (and optionally text) into the composer; `submit` sends it as if the user pressed Enter. */
  | { type: 'compose'; images: RawImage[]; text?: string; submit?: boolean }
  | { type: 'focusInput' };

/** An image file read by the extension (file picker, clipboard, explorer). */
export interface RawImage {
  name: string;
  mime: string;
  /** base64 */
  data: string;
}
