/**
 * The envelope of storage's small records (hard state, snapshot manifest,
 * transfer progress): a fixed header, then a UTF-8 JSON payload.
 *
 *   offset 0   magic    4 ASCII bytes naming the kind of record
 *   offset 4   version  u32 LE, format version of the payload
 *   offset 8   length   u32 LE, payload bytes
 *   offset 12  crc32c   u32 LE, over bytes 0..12 and the payload
 *   offset 16  payload
 *
 * The version is checked before the checksum so that a file from a newer
 * tsraft is reported as such, not as damage.
 */
import { crc32c } from "@node-rs/crc32";
import { RaftError } from "../errors.js";

const ENVELOPE_HEADER_BYTES = 16;
/** Records are small; a larger length field is damage, not data. */
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

export interface EnvelopeKind {
  /** Four ASCII characters. */
  readonly magic: string;
  /** The newest format version this build reads and writes. */
  readonly version: number;
  /** What the record is, for messages ("tsraft hard state file"). */
  readonly what: string;
  /** What a person should do when the record is damaged. */
  readonly remedy: string;
}

export function encodeEnvelope(kind: EnvelopeKind, payload: unknown): Uint8Array {
  const body = Buffer.from(JSON.stringify(payload), "utf8");
  const bytes = Buffer.alloc(ENVELOPE_HEADER_BYTES + body.byteLength);
  bytes.write(kind.magic, 0, 4, "latin1");
  bytes.writeUInt32LE(kind.version, 4);
  bytes.writeUInt32LE(body.byteLength, 8);
  body.copy(bytes, ENVELOPE_HEADER_BYTES);
  bytes.writeUInt32LE(envelopeChecksum(bytes), 12);
  return bytes;
}

/**
 * Checks the envelope and returns the parsed payload (its shape is the
 * caller's to validate). `source` names the file (or peer) in errors.
 */
export function decodeEnvelope(kind: EnvelopeKind, data: Uint8Array, source: string): unknown {
  const corrupt = (problem: string): RaftError => corruptRecord(kind, source, problem);
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength < ENVELOPE_HEADER_BYTES) {
    throw corrupt(`it is truncated: ${bytes.byteLength} bytes, shorter than the ${ENVELOPE_HEADER_BYTES}-byte header`);
  }
  const magic = bytes.toString("latin1", 0, 4);
  if (magic !== kind.magic) throw corrupt(`it is not a ${kind.what} (magic ${JSON.stringify(magic)}, expected ${JSON.stringify(kind.magic)})`);
  const version = bytes.readUInt32LE(4);
  if (version > kind.version) {
    throw new RaftError(
      "ECORRUPT",
      `${source}: ${kind.what} has format version ${version}, written by a newer tsraft; this build reads up to version ${kind.version}. ` +
        `Run the newer tsraft on this data, or ${kind.remedy}`,
    );
  }
  if (version === 0) throw corrupt("its format version is 0, which no tsraft writes");
  const length = bytes.readUInt32LE(8);
  if (length > MAX_PAYLOAD_BYTES) throw corrupt(`its payload length ${length} exceeds the ${MAX_PAYLOAD_BYTES}-byte limit`);
  const expectedBytes = ENVELOPE_HEADER_BYTES + length;
  if (bytes.byteLength < expectedBytes) throw corrupt(`it is truncated: ${bytes.byteLength} of ${expectedBytes} bytes`);
  if (bytes.byteLength > expectedBytes) throw corrupt(`it has ${bytes.byteLength - expectedBytes} bytes after the end of its record`);
  const stored = bytes.readUInt32LE(12);
  const computed = envelopeChecksum(bytes);
  if (stored !== computed) throw corrupt(`checksum mismatch (stored ${hex(stored)}, computed ${hex(computed)})`);
  try {
    return JSON.parse(bytes.toString("utf8", ENVELOPE_HEADER_BYTES));
  } catch {
    throw corrupt("its checksum matches but its payload is not JSON");
  }
}

/** The ECORRUPT error for a record whose envelope is sound but whose payload is not. */
export function corruptRecord(kind: EnvelopeKind, source: string, problem: string): RaftError {
  return new RaftError("ECORRUPT", `${source}: damaged ${kind.what}: ${problem}. ${capitalize(kind.remedy)}`);
}

function envelopeChecksum(bytes: Buffer): number {
  return crc32c(bytes.subarray(ENVELOPE_HEADER_BYTES), crc32c(bytes.subarray(0, 12)));
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
