// The pieces the SPM and BPE merge loops share: the text's symbols as a linked list, the merge of
// an adjacent pair, and a binary heap ordered by a "comes first" predicate (their work queue).

/** A span of the text being merged, linked to its neighbours (-1: none); len 0 once merged away. */
export interface MergeSymbol { start: number; len: number; prev: number; next: number }

/** One symbol per codepoint of `text` (UTF-16 surrogate pairs stay together). */
export function codepointSymbols(text: string): MergeSymbol[] {
  const symbols: MergeSymbol[] = [];
  for (let i = 0; i < text.length;) {
    const len = text.codePointAt(i)! > 0xffff ? 2 : 1;
    symbols.push({ start: i, len, prev: symbols.length - 1, next: i + len < text.length ? symbols.length + 1 : -1 });
    i += len;
  }
  return symbols;
}

/**
 * Joins symbol `right` into its left neighbour `left` and offers the two new adjacent pairs
 * (left's left neighbour with it, it with its new right neighbour) to `tryAdd`.
 */
export function mergeSymbolPair(symbols: MergeSymbol[], left: number, right: number, tryAdd: (left: number, right: number) => void): void {
  const l = symbols[left];
  const r = symbols[right];
  l.len += r.len;
  r.len = 0;
  l.next = r.next;
  if (r.next >= 0) symbols[r.next].prev = left;
  tryAdd(l.prev, left);
  tryAdd(left, l.next);
}

export class MergeQueue<T> {
  private readonly items: T[] = [];

  constructor(private readonly first: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.first(a[i], a[parent])) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < a.length && this.first(a[l], a[best])) best = l;
        if (r < a.length && this.first(a[r], a[best])) best = r;
        if (best === i) break;
        [a[i], a[best]] = [a[best], a[i]];
        i = best;
      }
    }
    return top;
  }
}
