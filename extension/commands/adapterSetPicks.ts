// Quick-pick items for Select Adapter Set: what each set was trained on (docs or images), how far,
// and on which model. No vscode import: the labels are tested as plain functions.

import * as path from 'path';
import type { AdapterSetInfo } from '../../server/protocol';

export interface AdapterSetPickItem {
  label: string;
  description: string;
  detail: string;
  /** null: the model's own adapters. */
  name: string | null;
}

const KINDS = { vision: { icon: '$(eye)', text: 'vision (images)' }, docs: { icon: '$(book)', text: 'project docs' } } as const;

export function adapterSetPickItems(sets: readonly AdapterSetInfo[], active: string | null, when: (iso: string) => string = (iso) => new Date(iso).toLocaleString()): AdapterSetPickItem[] {
  const check = (on: boolean) => (on ? '$(check) ' : '');
  return [
    { label: `${check(active === null)}Model's own adapters`, description: 'as shipped with the model', detail: '', name: null },
    ...sets.map((s) => {
      const kind = s.kind && KINDS[s.kind];
      const facts = [kind?.text, `${s.steps} steps`, s.loss === undefined ? undefined : `loss ${s.loss.toFixed(3)}`, when(s.updated)];
      const base = s.baseModel ? `trained on ${path.basename(s.baseModel)}` : undefined;
      return {
        label: `${check(s.name === active)}${kind ? `${kind.icon} ` : ''}${s.name}`,
        description: facts.filter((f) => f !== undefined).join(' · '),
        detail: [base, s.path].filter((f) => f !== undefined).join(' — '),
        name: s.name,
      };
    }),
  ];
}
