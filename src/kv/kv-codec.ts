/**
 * Binary codecs of the KV store: the log entry payload (WriteBatch) and the
 * request and response frames between client and server. No JSON: this is the
 * hot path. Each payload starts with a format version byte. Any change to what
 * a version decodes (a new type code, another limit) takes a new version, so
 * every replica that knows a version decodes an entry the same way.
 *
 * Decoders check everything (the limits of commands.ts, type codes, booleans,
 * no trailing bytes): a request is EINVAL, a log entry or a response ECORRUPT.
 * Decoded byte fields (keys, values, expectations) are views into the input,
 * not copies: the input must stay unchanged while they are used, and whatever
 * is kept longer is copied (the store copies what it stores).
 *
 * Encoders expect well-formed input (kv-validation.ts); the decoder refuses
 * what is not.
 */
import { BinaryWriter } from "../transport/binary.js";
import { MAX_NAME_BYTES } from "../transport/protocol.js";
import {
  MAX_CALLS_PER_REQUEST,
  MAX_KEYS_PER_OP,
  type CompareAndPutEntry,
  type Consistency,
  type KvCall,
  type KvCallResult,
  type KvEntry,
  type KvRequest,
  type KvResponse,
  type ReadOp,
  type WatchRequest,
  type WriteBatch,
  type WriteCall,
  type WriteOp,
  type WriteOpType,
} from "./commands.js";
import { readKvCallResult, writeKvCallResult } from "./kv-result-codec.js";
import { MAX_CALLS_PER_WRITE_BATCH, readOpProblem, watchRequestProblem, writeCallProblem } from "./kv-validation.js";
import { FieldReader, codesOf, decodeWith, writeNullableBytes } from "./kv-wire.js";
import { callBytes } from "./op-size.js";

export { validateReadOp, validateWatchRequest, validateWriteCall, validateWriteOp } from "./kv-validation.js";
export { MAX_ERROR_MESSAGE_CHARS } from "./kv-result-codec.js";

export const WRITE_BATCH_FORMAT_VERSION = 1;
export const KV_REQUEST_FORMAT_VERSION = 1;
export const KV_RESPONSE_FORMAT_VERSION = 1;

// Type codes on the wire: position + 1 in these lists. Append only (and bump the versions).
const WRITE_OP_TYPES: readonly WriteOpType[] = [
  "put",
  "putAll",
  "getAndPut",
  "compareAndPut",
  "compareAndPutAll",
  "putIfAbsent",
  "merge",
  "delete",
  "deleteAll",
  "deleteRange",
  "getSequence",
  "resetSequence",
  "lockAcquire",
  "lockRenew",
  "lockRelease",
];
const READ_OP_TYPES: readonly ReadOp["type"][] = ["get", "multiGet", "containsKey", "scan"];
const CALL_KINDS: readonly KvCall["kind"][] = ["write", "read", "watch"];
const CONSISTENCIES: readonly Consistency[] = ["linearizable", "lease", "stale"];

const WRITE_OP_CODES = codesOf(WRITE_OP_TYPES);
const READ_OP_CODES = codesOf(READ_OP_TYPES);
const CALL_KIND_CODES = codesOf(CALL_KINDS);
const CONSISTENCY_CODES = codesOf(CONSISTENCIES);

// --- top-level payloads ---

export function encodeWriteBatch(batch: WriteBatch): Uint8Array {
  const writer = new BinaryWriter(callsBytes(batch.calls));
  writer.u8(WRITE_BATCH_FORMAT_VERSION);
  writer.u53(batch.timeMs);
  writer.u32(batch.calls.length);
  for (const call of batch.calls) writeWriteCall(writer, call);
  return writer.finish();
}

/**
 * A batch as the leader's write batcher built it, handed back on apply
 * (ApplyTask.context) so that the leader does not decode its own entry. Its
 * calls come from decodeKvRequest, so they encode and decode to themselves
 * (kv-codec.test.ts checks it): the followers, who decode, apply the same.
 */
export class ProposedWriteBatch {
  constructor(readonly batch: WriteBatch) {}
}

/** A log entry's payload; ECORRUPT when malformed. */
export function decodeWriteBatch(bytes: Uint8Array): WriteBatch {
  return decodeWith(bytes, "a KV write batch", "ECORRUPT", (reader) => {
    reader.version(WRITE_BATCH_FORMAT_VERSION);
    const timeMs = reader.u53();
    const count = reader.count("calls", 1, MAX_CALLS_PER_WRITE_BATCH);
    const calls: WriteCall[] = [];
    for (let i = 0; i < count; i++) calls.push(readWriteCall(reader, i));
    return { timeMs, calls };
  });
}

export function encodeKvRequest(request: KvRequest): Uint8Array {
  const writer = new BinaryWriter(Buffer.byteLength(request.groupId) + callsBytes(request.calls));
  writer.u8(KV_REQUEST_FORMAT_VERSION);
  writer.string(request.groupId);
  writer.u32(request.calls.length);
  for (const call of request.calls) {
    writer.u8(CALL_KIND_CODES[call.kind]);
    switch (call.kind) {
      case "write":
        writeWriteCall(writer, call);
        break;
      case "read":
        writer.u8(CONSISTENCY_CODES[call.consistency]);
        writeReadOp(writer, call.op);
        break;
      case "watch":
        writeWatchRequest(writer, call.watch);
        break;
    }
  }
  return writer.finish();
}

/** A client's request frame; EINVAL when malformed. */
export function decodeKvRequest(bytes: Uint8Array): KvRequest {
  return decodeWith(bytes, "a KV request", "EINVAL", (reader) => {
    reader.version(KV_REQUEST_FORMAT_VERSION);
    const groupId = reader.string("groupId", 1, MAX_NAME_BYTES);
    const count = reader.count("calls", 1, MAX_CALLS_PER_REQUEST);
    const calls: KvCall[] = [];
    for (let i = 0; i < count; i++) calls.push(readCall(reader, i));
    return { groupId, calls };
  });
}

export function encodeKvResponse(response: KvResponse): Uint8Array {
  const writer = new BinaryWriter(64 + 32 * response.results.length);
  writer.u8(KV_RESPONSE_FORMAT_VERSION);
  writer.u32(response.results.length);
  for (const result of response.results) writeKvCallResult(writer, result);
  return writer.finish();
}

/** A server's response frame; ECORRUPT when malformed. */
export function decodeKvResponse(bytes: Uint8Array): KvResponse {
  return decodeWith(bytes, "a KV response", "ECORRUPT", (reader) => {
    reader.version(KV_RESPONSE_FORMAT_VERSION);
    const count = reader.count("results", 0, MAX_CALLS_PER_REQUEST);
    const results: KvCallResult[] = [];
    for (let i = 0; i < count; i++) results.push(readKvCallResult(reader, `result ${i}`));
    return { results };
  });
}

/** Room for a batch's or request's calls (callBytes bounds each generously), so the writer never grows. */
function callsBytes(calls: readonly KvCall[]): number {
  let bytes = 64;
  for (const call of calls) bytes += callBytes(call);
  return bytes;
}

// --- calls and operations ---

function writeWriteCall(writer: BinaryWriter, call: WriteCall): void {
  writer.string(call.clientId);
  writer.u53(call.seq);
  writer.u53(call.firstUnackedSeq);
  writeWriteOp(writer, call.op);
}

function readWriteCall(reader: FieldReader, position: number): WriteCall {
  const clientId = reader.rawString();
  const seq = reader.u53();
  const firstUnackedSeq = reader.u53();
  const call: WriteCall = { kind: "write", clientId, seq, firstUnackedSeq, op: readWriteOp(reader) };
  reader.check(writeCallProblem(call), `call ${position}`);
  return call;
}

function readCall(reader: FieldReader, position: number): KvCall {
  const kind = reader.code("call kind", CALL_KINDS);
  switch (kind) {
    case "write":
      return readWriteCall(reader, position);
    case "read": {
      const consistency = reader.code("consistency", CONSISTENCIES);
      const op = readReadOp(reader);
      reader.check(readOpProblem(op), `call ${position}`);
      return { kind, consistency, op };
    }
    case "watch": {
      const watch = readWatchRequest(reader);
      reader.check(watchRequestProblem(watch), `call ${position}`);
      return { kind, watch };
    }
  }
}

function writeWriteOp(writer: BinaryWriter, op: WriteOp): void {
  writer.u8(WRITE_OP_CODES[op.type]);
  switch (op.type) {
    case "put":
    case "getAndPut":
    case "putIfAbsent":
    case "merge":
      writer.bytes(op.key);
      writer.bytes(op.value);
      return;
    case "putAll":
      writer.u32(op.entries.length);
      for (const entry of op.entries) {
        writer.bytes(entry.key);
        writer.bytes(entry.value);
      }
      return;
    case "compareAndPut":
      writeCompareAndPut(writer, op);
      return;
    case "compareAndPutAll":
      writer.u32(op.entries.length);
      for (const entry of op.entries) writeCompareAndPut(writer, entry);
      return;
    case "delete":
    case "resetSequence":
      writer.bytes(op.key);
      return;
    case "deleteAll":
      writer.u32(op.keys.length);
      for (const key of op.keys) writer.bytes(key);
      return;
    case "deleteRange":
      writer.bytes(op.start);
      writer.bytes(op.end);
      return;
    case "getSequence":
      writer.bytes(op.key);
      writer.u53(op.step);
      return;
    case "lockAcquire":
      writer.bytes(op.key);
      writer.string(op.owner);
      writer.u53(op.leaseMs);
      return;
    case "lockRenew":
      writer.bytes(op.key);
      writer.string(op.owner);
      writer.u53(op.token);
      writer.u53(op.leaseMs);
      return;
    case "lockRelease":
      writer.bytes(op.key);
      writer.string(op.owner);
      writer.u53(op.token);
      return;
  }
}

/** The fields only; the caller checks the op against the limits. */
function readWriteOp(reader: FieldReader): WriteOp {
  const type = reader.code("write operation type", WRITE_OP_TYPES);
  switch (type) {
    case "put":
    case "getAndPut":
    case "putIfAbsent":
    case "merge":
      return { type, key: reader.bytes(), value: reader.bytes() };
    case "putAll": {
      const entries: KvEntry[] = [];
      const count = reader.count("putAll entries", 0, MAX_KEYS_PER_OP);
      for (let i = 0; i < count; i++) entries.push({ key: reader.bytes(), value: reader.bytes() });
      return { type, entries };
    }
    case "compareAndPut":
      return { type, ...readCompareAndPut(reader) };
    case "compareAndPutAll": {
      const entries: CompareAndPutEntry[] = [];
      const count = reader.count("compareAndPutAll entries", 0, MAX_KEYS_PER_OP);
      for (let i = 0; i < count; i++) entries.push(readCompareAndPut(reader));
      return { type, entries };
    }
    case "delete":
    case "resetSequence":
      return { type, key: reader.bytes() };
    case "deleteAll": {
      const keys: Uint8Array[] = [];
      const count = reader.count("deleteAll keys", 0, MAX_KEYS_PER_OP);
      for (let i = 0; i < count; i++) keys.push(reader.bytes());
      return { type, keys };
    }
    case "deleteRange":
      return { type, start: reader.bytes(), end: reader.bytes() };
    case "getSequence":
      return { type, key: reader.bytes(), step: reader.u53() };
    case "lockAcquire":
      return { type, key: reader.bytes(), owner: reader.rawString(), leaseMs: reader.u53() };
    case "lockRenew":
      return { type, key: reader.bytes(), owner: reader.rawString(), token: reader.u53(), leaseMs: reader.u53() };
    case "lockRelease":
      return { type, key: reader.bytes(), owner: reader.rawString(), token: reader.u53() };
  }
}

function writeCompareAndPut(writer: BinaryWriter, entry: CompareAndPutEntry): void {
  writer.bytes(entry.key);
  writeNullableBytes(writer, entry.expect);
  writer.bytes(entry.value);
}

function readCompareAndPut(reader: FieldReader): CompareAndPutEntry {
  return { key: reader.bytes(), expect: reader.nullableBytes("expect"), value: reader.bytes() };
}

function writeReadOp(writer: BinaryWriter, op: ReadOp): void {
  writer.u8(READ_OP_CODES[op.type]);
  switch (op.type) {
    case "get":
    case "containsKey":
      writer.bytes(op.key);
      return;
    case "multiGet":
      writer.u32(op.keys.length);
      for (const key of op.keys) writer.bytes(key);
      return;
    case "scan":
      writer.bytes(op.start);
      writeNullableBytes(writer, op.end);
      writer.u53(op.limit);
      writer.u8(op.reverse ? 1 : 0);
      writer.u8(op.keysOnly ? 1 : 0);
      return;
  }
}

function readReadOp(reader: FieldReader): ReadOp {
  const type = reader.code("read operation type", READ_OP_TYPES);
  switch (type) {
    case "get":
    case "containsKey":
      return { type, key: reader.bytes() };
    case "multiGet": {
      const keys: Uint8Array[] = [];
      const count = reader.count("multiGet keys", 0, MAX_KEYS_PER_OP);
      for (let i = 0; i < count; i++) keys.push(reader.bytes());
      return { type, keys };
    }
    case "scan":
      return {
        type,
        start: reader.bytes(),
        end: reader.nullableBytes("end"),
        limit: reader.u53(),
        reverse: reader.flag("reverse"),
        keysOnly: reader.flag("keysOnly"),
      };
  }
}

function writeWatchRequest(writer: BinaryWriter, request: WatchRequest): void {
  writer.bytes(request.key);
  writer.u8(request.prefix ? 1 : 0);
  writer.u53(request.fromIndex);
  writer.u53(request.maxEvents);
  writer.u53(request.waitMs);
}

function readWatchRequest(reader: FieldReader): WatchRequest {
  return { key: reader.bytes(), prefix: reader.flag("prefix"), fromIndex: reader.u53(), maxEvents: reader.u53(), waitMs: reader.u53() };
}
