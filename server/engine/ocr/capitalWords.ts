// Letters read as digits or small letters inside an all-capitals word: 'INF0' and 'FR0M' (the
// recogniser's 0 for O in log levels and SQL keywords), 'APl' (l for I). A word of capitals holds no
// lone zero or lowercase l, so when a token (a run of letters and digits) has at least three capitals,
// no lowercase letter but the one l, no digit but the one 0, and the 0 is not its first character, the
// look-alike is the capital (two capitals suffice beside an l: 'APl'). A '1' is left alone: 'STEP1',
// 'COM1' are real.

const TOKEN = /[A-Za-z0-9|]+/g;

export function capitalWords(text: string): string {
  return text.replace(TOKEN, (token) => {
    const capitals = (token.match(/[A-Z]/g) ?? []).length;
    const zeros = (token.match(/0/g) ?? []).length;
    const ells = (token.match(/[l|]/g) ?? []).length;
    const otherDigits = (token.match(/[1-9]/g) ?? []).length;
    const otherLower = (token.match(/[a-km-z]/g) ?? []).length;
    if (capitals < (zeros ? 3 : 2) || otherDigits > 0 || otherLower > 0 || zeros + ells !== 1) return token;
    if (zeros === 1 && token.startsWith('0')) return token;
    return token.replace('0', 'O').replace(/[l|]/, 'I');
  });
}
