/**
 * Growable big-endian writer and bounds-checked reader for the wire codecs.
 * Integers up to 2^53 travel as two 32-bit halves: exact, and cheaper than BigInt.
 */
import { RaftError } from "../errors.js";

const TWO_32 = 0x1_0000_0000;
// ignoreBOM: a string that starts with U+FEFF keeps it; the default would drop it and the string would not round-trip.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The project's one UTF-8 decoder for strings that must round-trip: a TypeError on bytes that are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

export class BinaryWriter {
  private buffer: Buffer;
  private offset = 0;

  constructor(initialBytes = 256) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  private reserve(bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.offset + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.offset++] = value;
  }

  u32(value: number): void {
    this.reserve(4);
    this.buffer.writeUInt32BE(value, this.offset);
    this.offset += 4;
  }

  /** A non-negative safe integer (an index, a term, a tick). */
  u53(value: number): void {
    this.reserve(8);
    this.buffer.writeUInt32BE(Math.floor(value / TWO_32), this.offset);
    this.buffer.writeUInt32BE(value >>> 0, this.offset + 4);
    this.offset += 8;
  }

  /** A safe integer that may be negative (e.g. -1 for "no index"), as a float64: exact below 2^53. */
  i53(value: number): void {
    this.reserve(8);
    this.buffer.writeDoubleBE(value, this.offset);
    this.offset += 8;
  }

  bytes(value: Uint8Array): void {
    this.u32(value.byteLength);
    this.reserve(value.byteLength);
    this.buffer.set(value, this.offset);
    this.offset += value.byteLength;
  }

  /** UTF-8 written in place: no intermediate copy (names go into every Raft frame). */
  string(value: string): void {
    const byteLength = Buffer.byteLength(value);
    this.u32(byteLength);
    this.reserve(byteLength);
    this.offset += this.buffer.write(value, this.offset, byteLength, "utf8");
  }

  /** The bytes written so far (a view, not a copy). */
  finish(): Buffer {
    return this.buffer.subarray(0, this.offset);
  }
}

/** Reads what BinaryWriter wrote; any overrun or bad value is an ECORRUPT error, never a crash. */
export class BinaryReader {
  private offset = 0;

  constructor(
    private readonly buffer: Buffer,
    private readonly what: string,
  ) {}

  private need(bytes: number): void {
    if (this.offset + bytes > this.buffer.length) {
      throw new RaftError("ECORRUPT", `${this.what} is truncated: needs ${bytes} more bytes at offset ${this.offset} of ${this.buffer.length}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buffer[this.offset++]!;
  }

  u32(): number {
    this.need(4);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  u53(): number {
    this.need(8);
    const high = this.buffer.readUInt32BE(this.offset);
    const low = this.buffer.readUInt32BE(this.offset + 4);
    this.offset += 8;
    const value = high * TWO_32 + low;
    if (!Number.isSafeInteger(value)) throw new RaftError("ECORRUPT", `${this.what} holds an integer past 2^53 at offset ${this.offset - 8}`);
    return value;
  }

  i53(): number {
    this.need(8);
    const value = this.buffer.readDoubleBE(this.offset);
    this.offset += 8;
    if (!Number.isSafeInteger(value)) throw new RaftError("ECORRUPT", `${this.what} holds a non-integer where an integer belongs, at offset ${this.offset - 8}`);
    return value;
  }

  /** A view into the frame, not a copy: entries travel without copying. */
  bytes(): Buffer {
    const length = this.u32();
    this.need(length);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  string(): string {
    const bytes = this.bytes();
    try {
      return decodeUtf8(bytes);
    } catch {
      throw new RaftError("ECORRUPT", `${this.what} holds a string that is not valid UTF-8 at offset ${this.offset - bytes.length}`);
    }
  }

  /** Everything not read yet, as a view: for a body that nests another codec's bytes. */
  rest(): Buffer {
    const value = this.buffer.subarray(this.offset);
    this.offset = this.buffer.length;
    return value;
  }

  /** Every byte must have been read: trailing garbage is corruption too. */
  end(): void {
    if (this.offset !== this.buffer.length) {
      throw new RaftError("ECORRUPT", `${this.what} has ${this.buffer.length - this.offset} unexpected trailing bytes`);
    }
  }
}
