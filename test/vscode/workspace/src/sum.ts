// A small file for "LaVIN: Explain Selection".
export function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
