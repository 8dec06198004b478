/**
 * Which pieces a peer has, in the wire order of a BITFIELD frame: bit 7 of byte 0 is
 * piece 0; spare bits at the end are 0. Used by the peer wire, the piece store and its
 * progress record.
 */
export class Bitfield {
  readonly bytes: Buffer;
  private setCount = 0;

  constructor(readonly size: number, bytes?: Buffer) {
    this.bytes = Buffer.alloc(Bitfield.byteLength(size));
    if (bytes) {
      if (!Bitfield.isValid(size, bytes)) throw new RangeError('Bitfield: wrong length or spare bits set');
      bytes.copy(this.bytes);
      for (let i = 0; i < size; i++) if (this.has(i)) this.setCount++;
    }
  }

  static byteLength(size: number): number {
    return Math.ceil(size / 8);
  }

  static full(size: number): Bitfield {
    const field = new Bitfield(size);
    for (let i = 0; i < size; i++) field.set(i);
    return field;
  }

  /** Right length for `size` pieces and no spare bit set. */
  static isValid(size: number, bytes: Buffer): boolean {
    if (bytes.length !== Bitfield.byteLength(size)) return false;
    const spare = bytes.length * 8 - size;
    if (spare === 0) return true;
    const mask = (1 << spare) - 1;
    return (bytes[bytes.length - 1]! & mask) === 0;
  }

  get count(): number {
    return this.setCount;
  }

  get complete(): boolean {
    return this.setCount === this.size;
  }

  has(index: number): boolean {
    return index >= 0 && index < this.size && (this.bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0;
  }

  /** Returns true if the bit was newly set. */
  set(index: number): boolean {
    if (index < 0 || index >= this.size) throw new RangeError(`Bitfield: index ${index} out of range`);
    if (this.has(index)) return false;
    this.bytes[index >> 3] |= 0x80 >> (index & 7);
    this.setCount++;
    return true;
  }

  /** Returns true if the bit was set before. */
  clear(index: number): boolean {
    if (!this.has(index)) return false;
    this.bytes[index >> 3] &= ~(0x80 >> (index & 7)) & 0xff;
    this.setCount--;
    return true;
  }
}
