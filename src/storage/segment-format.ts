/**
 * The on-disk format of log segments. All integers are little-endian; indexes,
 * terms and generations are stored as 64-bit unsigned values but must stay below 2^53.
 *
 * Segment file: HEADER, then records back to back.
 *   header: magic u32 | version u32 | firstIndex u64 | generation u64 | crc32c u32 (over the 24 bytes before it)
 *   record: payloadBytes u32 | index u64 | term u64 | type u8 | payload | crc32c u32 (over everything before it)
 */
import { crc32c } from "@node-rs/crc32";
import { EntryType, type Entry } from "../core/types.js";

export const SEGMENT_MAGIC = 0x4c525354; // "TSRL" read as a little-endian u32
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 28;
export const RECORD_HEADER_BYTES = 21;
export const RECORD_OVERHEAD_BYTES = RECORD_HEADER_BYTES + 4;
export const SEGMENT_SUFFIX = ".seg";

const TWO_32 = 2 ** 32;
/** The high word of a u64 below 2^53 fits in 21 bits. */
const MAX_HIGH_WORD = 2 ** 21;

export function segmentFileName(firstIndex: number): string {
  return `${String(firstIndex).padStart(20, "0")}${SEGMENT_SUFFIX}`;
}

/** The first index a segment file name stands for, or null when the name is not a segment's. */
export function parseSegmentFileName(name: string): number | null {
  const match = /^(\d{20})\.seg$/.exec(name);
  if (match === null) return null;
  const firstIndex = Number(match[1]);
  return Number.isSafeInteger(firstIndex) ? firstIndex : null;
}

export function writeU53(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value >>> 0, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
}

/** A stored u64, or -1 when it is 2^53 or more (which tsraft never writes). */
export function readU53(buf: Buffer, offset: number): number {
  const high = buf.readUInt32LE(offset + 4);
  if (high >= MAX_HIGH_WORD) return -1;
  return high * TWO_32 + buf.readUInt32LE(offset);
}

export interface SegmentHeader {
  readonly version: number;
  readonly firstIndex: number;
  readonly generation: number;
}

export function encodeSegmentHeader(firstIndex: number, generation: number): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  buf.writeUInt32LE(SEGMENT_MAGIC, 0);
  buf.writeUInt32LE(SEGMENT_VERSION, 4);
  writeU53(buf, 8, firstIndex);
  writeU53(buf, 16, generation);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 24)), 24);
  return buf;
}

/** Why a header is unusable, or the header. A torn header is one a crash may have left. */
export type HeaderCheck =
  | { readonly ok: true; readonly header: SegmentHeader }
  | { readonly ok: false; readonly torn: boolean; readonly reason: string };

export function decodeSegmentHeader(buf: Buffer): HeaderCheck {
  if (buf.length < SEGMENT_HEADER_BYTES) return { ok: false, torn: true, reason: `the file is ${buf.length} bytes, shorter than a segment header (${SEGMENT_HEADER_BYTES})` };
  const head = buf.subarray(0, SEGMENT_HEADER_BYTES);
  if (isAllZero(head)) return { ok: false, torn: true, reason: "the segment header is zeroed" };
  const magic = head.readUInt32LE(0);
  if (magic !== SEGMENT_MAGIC) return { ok: false, torn: false, reason: `wrong magic number 0x${magic.toString(16)} (expected 0x${SEGMENT_MAGIC.toString(16)}): not a tsraft log segment` };
  if (head.readUInt32LE(24) !== crc32c(head.subarray(0, 24))) return { ok: false, torn: true, reason: "the segment header checksum does not match" };
  const version = head.readUInt32LE(4);
  if (version !== SEGMENT_VERSION) {
    return { ok: false, torn: false, reason: `unknown segment format version ${version} (this tsraft reads version ${SEGMENT_VERSION}); it was written by a newer tsraft` };
  }
  const firstIndex = readU53(head, 8);
  const generation = readU53(head, 16);
  if (firstIndex < 1 || generation < 0) return { ok: false, torn: false, reason: "the segment header holds an index or generation out of range" };
  return { ok: true, header: { version, firstIndex, generation } };
}

export function recordBytes(entry: Entry): number {
  return RECORD_OVERHEAD_BYTES + entry.data.byteLength;
}

/**
 * Writes one record at `offset` of a batch buffer and returns the offset after it.
 * A DataView and plain Uint8Array views are markedly faster here than Buffer's
 * checked writers and subarray.
 */
export function encodeRecord(view: DataView, bytes: Uint8Array, offset: number, entry: Entry): number {
  const payloadBytes = entry.data.byteLength;
  view.setUint32(offset, payloadBytes, true);
  view.setUint32(offset + 4, entry.index >>> 0, true);
  view.setUint32(offset + 8, Math.floor(entry.index / TWO_32), true);
  view.setUint32(offset + 12, entry.term >>> 0, true);
  view.setUint32(offset + 16, Math.floor(entry.term / TWO_32), true);
  bytes[offset + 20] = entry.type;
  bytes.set(entry.data, offset + RECORD_HEADER_BYTES);
  const crcAt = offset + RECORD_HEADER_BYTES + payloadBytes;
  view.setUint32(crcAt, crc32c(new Uint8Array(bytes.buffer, bytes.byteOffset + offset, crcAt - offset)), true);
  return crcAt + 4;
}

/** A record as found in a buffer: its fields, or why it is unusable. */
export interface RecordCheck {
  /** Empty when the record is sound. */
  problem: string;
  index: number;
  term: number;
  type: number;
  /** Offset just past the record. */
  end: number;
}

/** Checks the record at `offset` in buf[0, limit), reusing `out` so a scan allocates nothing per record. */
export function checkRecord(buf: Buffer, offset: number, limit: number, out: RecordCheck): RecordCheck {
  out.problem = "";
  if (limit - offset < RECORD_OVERHEAD_BYTES) {
    out.problem = `a partial record (${limit - offset} bytes, shorter than a record header)`;
    return out;
  }
  const payloadBytes = buf.readUInt32LE(offset);
  const crcAt = offset + RECORD_HEADER_BYTES + payloadBytes;
  if (crcAt + 4 > limit) {
    out.problem = `a record of ${payloadBytes + RECORD_OVERHEAD_BYTES} bytes that runs past the end of the data`;
    return out;
  }
  out.end = crcAt + 4;
  if (buf.readUInt32LE(crcAt) !== crc32c(buf.subarray(offset, crcAt))) {
    out.problem = "a record whose checksum does not match";
    return out;
  }
  out.index = readU53(buf, offset + 4);
  out.term = readU53(buf, offset + 12);
  out.type = buf[offset + 20]!;
  if (out.index < 1 || out.term < 0 || !isEntryType(out.type)) out.problem = "a record with a valid checksum but an impossible index, term or type";
  return out;
}

export function newRecordCheck(): RecordCheck {
  return { problem: "", index: 0, term: 0, type: 0, end: 0 };
}

function isEntryType(type: number): type is EntryType {
  return type === EntryType.Normal || type === EntryType.Config || type === EntryType.Noop;
}

const ZEROS = new Uint8Array(64 * 1024);

/** Compared natively a chunk at a time: a preallocated segment holds megabytes of zeros. */
export function isAllZero(buf: Uint8Array): boolean {
  for (let at = 0; at < buf.length; at += ZEROS.length) {
    const chunk = buf.subarray(at, Math.min(buf.length, at + ZEROS.length));
    if (Buffer.compare(chunk, ZEROS.subarray(0, chunk.length)) !== 0) return false;
  }
  return true;
}
