/**
 * Reads the frame headers of a client's WebSocket byte stream (RFC 6455 section 5.2), skipping the
 * payloads. `ws` reassembles a fragmented message before handing it over, so the emulator reads the raw
 * socket alongside it to apply API Gateway's limit to each frame rather than to each message.
 */

/** What a frame header says; `length` is the payload length in bytes. */
export interface FrameHeader {
  fin: boolean;
  /** 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong. */
  opcode: number;
  length: number;
}

/** Opcodes from 8 up are control frames (close, ping, pong), at most 125 bytes each. */
export function isControlFrame(opcode: number): boolean {
  return opcode >= 0x8;
}

/** Bytes of a header whose first bytes are `header`: 2 until the second byte says more. */
function headerSize(header: Buffer): number {
  const second = header[1];
  if (second === undefined) return 2;
  const length7 = second & 0x7f;
  const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
  const mask = second & 0x80 ? 4 : 0;
  return 2 + extended + mask;
}

function parseHeader(header: Buffer): FrameHeader {
  const first = header[0] ?? 0;
  const length7 = (header[1] ?? 0) & 0x7f;
  let length = length7;
  if (length7 === 126) length = header.readUInt16BE(2);
  // Past 2^53 the number is inexact, which only matters for frames far over any limit.
  else if (length7 === 127) length = Number(header.readBigUInt64BE(2));
  return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, length };
}

/**
 * Feed it the socket's chunks in order; it calls `onHeader` once per frame, as soon as the frame's
 * header is complete, whatever way the chunks split headers and payloads.
 */
export class FrameHeaderReader {
  private header = Buffer.alloc(0);
  /** Payload bytes of the current frame not seen yet. */
  private remaining = 0;

  constructor(private readonly onHeader: (header: FrameHeader) => void) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining > 0) {
        const skipped = Math.min(this.remaining, chunk.length - offset);
        this.remaining -= skipped;
        offset += skipped;
        continue;
      }
      // The second byte decides the header's size, so take bytes until the size stops growing.
      let size = headerSize(this.header);
      while (this.header.length < size && offset < chunk.length) {
        const taken = Math.min(size - this.header.length, chunk.length - offset);
        this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + taken)]);
        offset += taken;
        size = headerSize(this.header);
      }
      if (this.header.length < size) return;
      const frame = parseHeader(this.header);
      this.header = Buffer.alloc(0);
      this.remaining = frame.length;
      this.onHeader(frame);
    }
  }
}
