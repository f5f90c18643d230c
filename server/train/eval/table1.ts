// The paper's Table 1 columns over ScienceQA problems, bucketed exactly as the official scorer
// (LaVIN eval.py get_scores, copied from ScienceQA's evaluations.py) does it:
//   NAT / SOC / LAN : subject == "natural science" / "social science" / "language science"
//   TXT             : hint is non-empty (Python truthiness: "" is false, " " is true)
//   IMG             : image is set (a file name; null / "" are false)
//   NO              : neither hint nor image
//   G1-6 / G7-12    : grade in grade1..grade6 / grade7..grade12
//   Avg             : every problem
// TXT and IMG overlap (a problem with both counts in each), so the context columns do not add up
// to the total; subject and grade columns partition it.

export const TABLE1_COLUMNS = ['NAT', 'SOC', 'LAN', 'TXT', 'IMG', 'NO', 'G1-6', 'G7-12', 'Avg'] as const;
export type Table1Column = (typeof TABLE1_COLUMNS)[number];

/** Accuracy in percent per column; null where no problem falls in the column. */
export type Table1 = Record<Table1Column, number | null>;
export type Table1Counts = Record<Table1Column, { correct: number; total: number }>;

/** The fields of a ScienceQA problem that decide its columns. */
export interface BucketFields {
  subject?: string;
  hint?: string | null;
  image?: string | null;
  grade?: string;
}

const SUBJECT_COLUMN: Record<string, Table1Column> = {
  'natural science': 'NAT',
  'social science': 'SOC',
  'language science': 'LAN',
};

export function contextFlags(p: BucketFields): { hasText: boolean; hasImage: boolean; noContext: boolean } {
  const hasText = typeof p.hint === 'string' && p.hint.length > 0;
  const hasImage = typeof p.image === 'string' && p.image.length > 0;
  return { hasText, hasImage, noContext: !hasText && !hasImage };
}

/** The Table 1 columns one problem counts in (always including Avg). */
export function table1Buckets(p: BucketFields): Table1Column[] {
  const out: Table1Column[] = [];
  const subject = p.subject !== undefined ? SUBJECT_COLUMN[p.subject] : undefined;
  if (subject) out.push(subject);
  const { hasText, hasImage, noContext } = contextFlags(p);
  if (hasText) out.push('TXT');
  if (hasImage) out.push('IMG');
  if (noContext) out.push('NO');
  const grade = /^grade(\d+)$/.exec(p.grade ?? '');
  if (grade) {
    const g = Number(grade[1]);
    if (g >= 1 && g <= 6) out.push('G1-6');
    else if (g >= 7 && g <= 12) out.push('G7-12');
  }
  out.push('Avg');
  return out;
}

/** Per-column counts and percentages from each problem's columns and correctness. */
export function computeTable1(rows: readonly { buckets: readonly Table1Column[]; correct: boolean }[]): { table: Table1; counts: Table1Counts } {
  const counts = Object.fromEntries(TABLE1_COLUMNS.map((c) => [c, { correct: 0, total: 0 }])) as Table1Counts;
  for (const r of rows) {
    for (const c of r.buckets) {
      counts[c].total++;
      if (r.correct) counts[c].correct++;
    }
  }
  const table = Object.fromEntries(
    TABLE1_COLUMNS.map((c) => [c, counts[c].total > 0 ? (counts[c].correct / counts[c].total) * 100 : null]),
  ) as Table1;
  return { table, counts };
}

/**
 * Table 1 as aligned text: a header row and the accuracies with two decimals (as the official
 * scorer prints them); '-' for empty columns. With counts, a third row gives correct/total.
 */
export function formatTable1(table: Table1, counts?: Table1Counts): string {
  const cells = (f: (c: Table1Column) => string) => TABLE1_COLUMNS.map(f);
  const rows = [
    cells((c) => c),
    cells((c) => (table[c] === null ? '-' : table[c]!.toFixed(2))),
  ];
  if (counts) rows.push(cells((c) => `${counts[c].correct}/${counts[c].total}`));
  const widths = TABLE1_COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((v, i) => v.padStart(widths[i])).join('  ')).join('\n');
}
