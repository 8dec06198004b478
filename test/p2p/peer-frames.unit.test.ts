// The peer wire codec: every message survives encode -> decode however the bytes are
// chunked, and malformed input is refused with a stable code before it is buffered.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import {
  Bitfield,
  encodeBitfield,
  encodeCancel,
  encodeHandshake,
  encodeHave,
  encodePiece,
  encodeReject,
  encodeRequest,
  FrameDecoder,
  KEEP_ALIVE_FRAME,
  MAX_FRAME,
  NO_PIECE,
  PeerProtocolError,
  RejectReason,
  type PeerMessage,
} from '../../src/wire/peer-frames.js';

const FILE_ID = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3';

/** Buffers as hex digests: deep-equal on half a megabyte byte by byte is slow. */
function comparable(messages: PeerMessage[]): unknown[] {
  return messages.map((m) =>
    m.type === 'piece' ? { ...m, data: createHash('sha1').update(m.data).digest('hex') + `/${m.data.length}` } : m.type === 'bitfield' ? { ...m, bits: m.bits.toString('hex') } : m,
  );
}

function decodeAll(bytes: Buffer, chunkSize = bytes.length): PeerMessage[] {
  const out: PeerMessage[] = [];
  const decoder = new FrameDecoder((m) => out.push(m));
  for (let at = 0; at < bytes.length; at += chunkSize) decoder.push(bytes.subarray(at, at + chunkSize));
  decoder.end();
  return out;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PeerProtocolError);
    return (err as PeerProtocolError).code;
  }
  throw new Error('expected a PeerProtocolError');
}

function rawFrame(length: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 0);
  head[4] = id;
  return Buffer.concat([head, payload]);
}

describe('peer frames', () => {
  const piece = Buffer.alloc(PIECE_SIZE, 0xab);
  piece[0] = 1;
  piece[PIECE_SIZE - 1] = 2;
  const bits = Bitfield.full(13).bytes;
  const stream = Buffer.concat([
    encodeHandshake(FILE_ID, 'ticket.text'),
    KEEP_ALIVE_FRAME,
    encodeBitfield(bits),
    encodeHave(7),
    encodeRequest(3),
    encodePiece(3, piece),
    encodeReject(NO_PIECE, RejectReason.NOT_AUTHORIZED),
    encodeCancel(0xfffffffe),
  ]);
  const expected: PeerMessage[] = [
    { type: 'handshake', fileId: FILE_ID, ticket: 'ticket.text' },
    { type: 'keep-alive' },
    { type: 'bitfield', bits },
    { type: 'have', index: 7 },
    { type: 'request', index: 3 },
    { type: 'piece', index: 3, data: piece },
    { type: 'reject', index: NO_PIECE, reason: RejectReason.NOT_AUTHORIZED },
    { type: 'cancel', index: 0xfffffffe },
  ];

  it('round-trips every message in one chunk', () => {
    expect(comparable(decodeAll(stream))).toEqual(comparable(expected));
  });

  it.each([1, 3, 4, 5, 7, 1000, 65536])('round-trips every message in chunks of %i bytes', (size) => {
    expect(comparable(decodeAll(stream, size))).toEqual(comparable(expected));
  });

  it('refuses a frame longer than MAX_FRAME before buffering it', () => {
    expect(codeOf(() => decodeAll(rawFrame(MAX_FRAME + 1, 4)))).toBe('FRAME_TOO_LARGE');
    expect(codeOf(() => decodeAll(rawFrame(0xffffffff, 4)))).toBe('FRAME_TOO_LARGE');
  });

  it('refuses an unknown message id', () => {
    expect(codeOf(() => decodeAll(rawFrame(1, 42)))).toBe('UNKNOWN_MESSAGE');
  });

  it('refuses fixed-size messages of the wrong size', () => {
    expect(codeOf(() => decodeAll(rawFrame(4, 2, Buffer.alloc(3))))).toBe('BAD_PAYLOAD_SIZE'); // HAVE
    expect(codeOf(() => decodeAll(rawFrame(6, 3, Buffer.alloc(5))))).toBe('BAD_PAYLOAD_SIZE'); // REQUEST
    expect(codeOf(() => decodeAll(rawFrame(5, 4, Buffer.alloc(4))))).toBe('BAD_PAYLOAD_SIZE'); // PIECE without data
    expect(codeOf(() => decodeAll(rawFrame(3, 0, Buffer.alloc(2))))).toBe('BAD_PAYLOAD_SIZE'); // tiny HANDSHAKE
  });

  it('refuses a handshake with the wrong magic or version, and unknown reject reasons', () => {
    const bad = encodeHandshake(FILE_ID, 't');
    bad[5] = 0x58;
    expect(codeOf(() => decodeAll(bad))).toBe('BAD_HANDSHAKE');
    const future = encodeHandshake(FILE_ID, 't');
    future[9] = 99;
    expect(codeOf(() => decodeAll(future))).toBe('BAD_HANDSHAKE');
    const reject = encodeReject(1, RejectReason.BUSY);
    reject[9] = 200;
    expect(codeOf(() => decodeAll(reject))).toBe('BAD_REJECT_REASON');
  });

  it('reports a stream that ends inside a frame as truncated', () => {
    const frame = encodePiece(1, Buffer.alloc(100));
    for (const cut of [2, 5, 50]) {
      expect(codeOf(() => decodeAll(frame.subarray(0, cut)))).toBe('TRUNCATED_FRAME');
    }
  });

  it('stays failed after a violation', () => {
    const decoder = new FrameDecoder(() => undefined);
    expect(() => decoder.push(rawFrame(1, 42))).toThrow(PeerProtocolError);
    expect(() => decoder.push(encodeHave(1))).toThrow(PeerProtocolError);
  });

  it('hands out a PIECE that arrived in one chunk without copying it', () => {
    const frame = encodePiece(9, Buffer.alloc(1000, 5));
    let data: Buffer | null = null;
    new FrameDecoder((m) => {
      if (m.type === 'piece') data = m.data;
    }).push(frame);
    expect(data!.buffer).toBe(frame.buffer);
  });

  it('assembles a payload read straight into directTarget()', () => {
    const data = Buffer.alloc(1000, 7);
    const frame = encodePiece(5, data);
    const out: PeerMessage[] = [];
    const decoder = new FrameDecoder((m) => out.push(m), { reusesInput: true });
    expect(decoder.directTarget()).toBeNull();
    decoder.push(frame.subarray(0, 20)); // header, index and 11 data bytes
    const target = decoder.directTarget()!;
    expect(target.length).toBe(frame.length - 20);
    frame.copy(target, 0, 20, 520);
    decoder.pushDirect(500);
    expect(out).toEqual([]);
    frame.copy(decoder.directTarget()!, 0, 520);
    decoder.pushDirect(frame.length - 520);
    expect(out).toHaveLength(1);
    expect(out[0]!.type === 'piece' && out[0]!.index === 5 && out[0]!.data.equals(data)).toBe(true);
    expect(decoder.directTarget()).toBeNull();
    decoder.end();
  });

  it('copies kept payloads out of an input buffer the caller reuses', () => {
    const chunk = Buffer.concat([encodePiece(1, Buffer.alloc(100, 1)), encodeBitfield(Buffer.from([0xf0]))]);
    const out: PeerMessage[] = [];
    new FrameDecoder((m) => out.push(m), { reusesInput: true }).push(chunk);
    chunk.fill(0);
    expect(out[0]!.type === 'piece' && out[0]!.data.equals(Buffer.alloc(100, 1))).toBe(true);
    expect(out[1]!.type === 'bitfield' && out[1]!.bits.equals(Buffer.from([0xf0]))).toBe(true);
  });

  it('validates bitfields: length and spare bits', () => {
    expect(Bitfield.isValid(13, Buffer.from([0xff, 0xf8]))).toBe(true);
    expect(Bitfield.isValid(13, Buffer.from([0xff, 0xfc]))).toBe(false);
    expect(Bitfield.isValid(13, Buffer.from([0xff]))).toBe(false);
    const field = new Bitfield(13);
    expect(field.set(12)).toBe(true);
    expect(field.set(12)).toBe(false);
    expect(field.has(12) && !field.has(11)).toBe(true);
    expect(field.count).toBe(1);
    expect(field.clear(12)).toBe(true);
    expect(field.count).toBe(0);
  });
});
