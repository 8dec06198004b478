/**
 * A long text cut into slices of at most `maxChars` UTF-16 units, never inside a
 * surrogate pair, so each slice's UTF-8 is that of its characters and the slices'
 * UTF-8, one after the other, is the whole text's. For hashing or sending a text of
 * megabytes a slice at a time (textHash, twin-state.ts).
 */
export function textSlices(text: string, maxChars: number): string[] {
  if (!Number.isSafeInteger(maxChars) || maxChars < 2) throw new RangeError(`textSlices needs at least 2 characters per slice, not ${maxChars}`);
  const slices: string[] = [];
  for (let from = 0; from < text.length || slices.length === 0; ) {
    let to = Math.min(text.length, from + maxChars);
    if (to < text.length && isHighSurrogate(text.charCodeAt(to - 1))) to -= 1;
    slices.push(text.slice(from, to));
    from = to;
  }
  return slices;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
