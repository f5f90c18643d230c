// The conversation of one workspace, kept in workspaceState. Full image bytes stay in memory for
// this session only (history keeps thumbnails), so the stored state stays small.

import type * as vscode from 'vscode';
import type { ChatMessage, CodeContext } from '../../server/protocol';
import type { ChatTurn } from './messages';

const KEY = 'lavin.chat.history';
/** Oldest turns are dropped beyond this; the server trims further to fit the context. */
const MAX_TURNS = 100;

export interface StoredTurn extends ChatTurn {
  code?: CodeContext;
}

export class ChatHistory {
  private turns: StoredTurn[];
  /** turn id -> base64 images sent with it (this session only). */
  private readonly imageData = new Map<string, string[]>();

  constructor(private readonly memento: vscode.Memento) {
    const stored = memento.get<StoredTurn[]>(KEY, []);
    // An answer that was streaming when VS Code closed is finished as it was.
    this.turns = stored.map((t) => (t.streaming ? { ...t, streaming: false, notices: [...(t.notices ?? []), 'Interrupted.'] } : t));
  }

  all(): StoredTurn[] {
    return this.turns;
  }

  get(id: string): StoredTurn | undefined {
    return this.turns.find((t) => t.id === id);
  }

  add(turn: StoredTurn): void {
    const images = turn.images?.map((i) => i.data).filter((d): d is string => !!d) ?? [];
    if (images.length) this.imageData.set(turn.id, images);
    this.turns.push({ ...turn, images: turn.images?.map(({ name, mime, thumb, width, height }) => ({ name, mime, thumb, width, height })) });
    if (this.turns.length > MAX_TURNS) this.turns.splice(0, this.turns.length - MAX_TURNS);
    void this.save();
  }

  update(id: string, change: Partial<StoredTurn>): StoredTurn | undefined {
    const turn = this.get(id);
    if (!turn) return undefined;
    Object.assign(turn, change);
    void this.save();
    return turn;
  }

  clear(): void {
    this.turns = [];
    this.imageData.clear();
    void this.save();
  }

  /** The conversation as the backend wants it; answers that failed are left out. */
  toMessages(): ChatMessage[] {
    const messages: ChatMessage[] = [];
    for (const t of this.turns) {
      if (t.role === 'assistant' && (t.error || t.streaming || !t.text)) continue;
      const m: ChatMessage = { role: t.role, content: t.text };
      const images = this.imageData.get(t.id);
      if (images?.length) m.images = images;
      if (t.code) m.code = t.code;
      messages.push(m);
    }
    return messages;
  }

  private save(): Thenable<void> {
    return this.memento.update(KEY, this.turns);
  }
}
