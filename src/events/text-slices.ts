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

/**
 * UTF-8 bytes cut into slices of at most `maxBytes`, never inside a character's byte
 * sequence, so each slice is valid UTF-8 on its own and they join back into the whole.
 * The slices are views of `bytes`, not copies.
 */
export function utf8Slices(bytes: Uint8Array, maxBytes: number): Uint8Array[] {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 4) throw new RangeError(`utf8Slices needs at least 4 bytes per slice, not ${maxBytes}`);
  const slices: Uint8Array[] = [];
  for (let from = 0; from < bytes.length || slices.length === 0; ) {
    let to = Math.min(bytes.length, from + maxBytes);
    while (to < bytes.length && isContinuation(bytes[to]!)) to -= 1;
    slices.push(bytes.subarray(from, to));
    from = to;
  }
  return slices;
}

/** A byte that continues a UTF-8 sequence (10xxxxxx): no character starts there. */
function isContinuation(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}
