import { describe, expect, it } from 'vitest';
import { type FrameHeader, FrameHeaderReader } from '../../local/apigw/frames';

/** One frame as a client sends it: masked unless told otherwise, with the shortest length encoding. */
function frame(opcode: number, length: number, { fin = true, masked = true } = {}): Buffer {
  const first = (fin ? 0x80 : 0) | opcode;
  const mask = masked ? 0x80 : 0;
  let header: Buffer;
  if (length <= 125) {
    header = Buffer.from([first, mask | length]);
  } else if (length <= 0xffff) {
    header = Buffer.alloc(4);
    header.writeUInt8(first, 0);
    header.writeUInt8(mask | 126, 1);
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header.writeUInt8(first, 0);
    header.writeUInt8(mask | 127, 1);
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  const maskKey = masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0);
  return Buffer.concat([header, maskKey, Buffer.alloc(length, 0x61)]);
}

function read(chunks: Buffer[]): FrameHeader[] {
  const seen: FrameHeader[] = [];
  const reader = new FrameHeaderReader((header) => seen.push(header));
  for (const chunk of chunks) reader.push(chunk);
  return seen;
}

/** Splits `bytes` into chunks of `size` bytes. */
function chunked(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

describe('FrameHeaderReader', () => {
  // A fragmented text message with a ping between its fragments, using all three length encodings.
  const stream = Buffer.concat([
    frame(0x1, 125, { fin: false }),
    frame(0x9, 4),
    frame(0x0, 40_000, { fin: false }),
    frame(0x0, 70_000, { fin: false }),
    frame(0x0, 0),
    frame(0x1, 3, { masked: false }),
  ]);
  const expected: FrameHeader[] = [
    { fin: false, opcode: 0x1, length: 125 },
    { fin: true, opcode: 0x9, length: 4 },
    { fin: false, opcode: 0x0, length: 40_000 },
    { fin: false, opcode: 0x0, length: 70_000 },
    { fin: true, opcode: 0x0, length: 0 },
    { fin: true, opcode: 0x1, length: 3 },
  ];

  it('reads 7-bit, 16-bit and 64-bit lengths, masked or not, and control frames between fragments', () => {
    expect(read([stream])).toEqual(expected);
  });

  it.each([1, 2, 3, 7, 1000, 65_536])(
    'reads the same headers when the stream arrives in chunks of %i bytes',
    (size) => {
      expect(read(chunked(stream, size))).toEqual(expected);
    },
  );

  it('reports a frame as soon as its header is complete, before its payload arrives', () => {
    // Prepare
    const bytes = frame(0x1, 40_000);
    const seen: FrameHeader[] = [];
    const reader = new FrameHeaderReader((header) => seen.push(header));

    // Act: the 2-byte base header, the 16-bit length and the mask key, with no payload yet.
    reader.push(bytes.subarray(0, 1));
    const afterOneByte = seen.length;
    reader.push(bytes.subarray(1, 8));

    // Assess
    expect(afterOneByte).toBe(0);
    expect(seen).toEqual([{ fin: true, opcode: 0x1, length: 40_000 }]);
  });
});
