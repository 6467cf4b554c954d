/**
 * The two request services of a snapshot copy, and their payloads. A follower
 * asks the leader for the manifest of a snapshot, then for byte ranges of its
 * files. Answers need no codec of their own: a manifest travels in its
 * checksummed on-disk encoding, and a range as its raw bytes.
 */
import { RaftError } from "../errors.js";
import { BinaryReader, BinaryWriter } from "../transport/binary.js";
import { MAX_NAME_BYTES } from "../transport/protocol.js";

export const MANIFEST_SERVICE = "snapshot/manifest";
export const CHUNK_SERVICE = "snapshot/chunk";

/** Snapshot file names are at most 255 bytes (snapshot-manifest.ts); longer ones are refused before any lookup. */
const MAX_FILE_NAME_BYTES = 255;

export interface ManifestRequest {
  readonly groupId: string;
  readonly index: number;
}

export interface ChunkRequest {
  readonly groupId: string;
  readonly index: number;
  readonly fileName: string;
  readonly offset: number;
  readonly lengthBytes: number;
}

export function encodeManifestRequest(request: ManifestRequest): Uint8Array {
  const writer = new BinaryWriter(64 + request.groupId.length);
  writer.string(request.groupId);
  writer.u53(request.index);
  return writer.finish();
}

export function decodeManifestRequest(payload: Buffer): ManifestRequest {
  const reader = new BinaryReader(payload, "a snapshot manifest request");
  const groupId = boundedString(reader, "group id", MAX_NAME_BYTES);
  const index = snapshotIndex(reader);
  reader.end();
  return { groupId, index };
}

export function encodeChunkRequest(request: ChunkRequest): Uint8Array {
  const writer = new BinaryWriter(96 + request.groupId.length + request.fileName.length);
  writer.string(request.groupId);
  writer.u53(request.index);
  writer.string(request.fileName);
  writer.u53(request.offset);
  writer.u32(request.lengthBytes);
  return writer.finish();
}

export function decodeChunkRequest(payload: Buffer): ChunkRequest {
  const reader = new BinaryReader(payload, "a snapshot chunk request");
  const groupId = boundedString(reader, "group id", MAX_NAME_BYTES);
  const index = snapshotIndex(reader);
  const fileName = boundedString(reader, "file name", MAX_FILE_NAME_BYTES);
  const offset = reader.u53();
  const lengthBytes = reader.u32();
  reader.end();
  return { groupId, index, fileName, offset, lengthBytes };
}

function boundedString(reader: BinaryReader, what: string, maxBytes: number): string {
  const value = reader.string();
  if (value.length === 0 || Buffer.byteLength(value) > maxBytes) {
    throw new RaftError("EINVAL", `the ${what} of a snapshot request must be 1 to ${maxBytes} bytes, got ${Buffer.byteLength(value)}`);
  }
  return value;
}

function snapshotIndex(reader: BinaryReader): number {
  const index = reader.u53();
  if (index < 1) throw new RaftError("EINVAL", "a snapshot request names index 0; snapshot indexes start at 1");
  return index;
}
