/**
 * What makes an operation well-formed: the limits of commands.ts, checked in
 * one place for the client (before sending), the server (decoding a request)
 * and the state machine (decoding a log entry). Each `...Problem` function
 * returns what is wrong as a sentence, or null; `validate...` throws it as
 * EINVAL. Checks also hold for values from plain JavaScript (wrong types).
 */
import { RaftError } from "../errors.js";
import {
  MAX_CALLS_PER_REQUEST,
  MAX_KEYS_PER_OP,
  MAX_KEY_BYTES,
  MAX_LEASE_MS,
  MAX_LOCK_OWNER_BYTES,
  MAX_SCAN_LIMIT,
  MAX_VALUE_BYTES,
  type CompareAndPutEntry,
  type KvEntry,
  type ReadOp,
  type WatchRequest,
  type WriteCall,
  type WriteOp,
} from "./commands.js";

// Limits the contract implies but does not name (candidates for commands.ts).
/** "Chosen by the client once (random), up to 64 bytes." */
export const MAX_CLIENT_ID_BYTES = 64;
/** A watch answer asks for at most as many events as a scan returns entries. */
export const MAX_WATCH_EVENTS = MAX_SCAN_LIMIT;
/** The longest a server may hold a watch (long poll). */
export const MAX_WATCH_WAIT_MS = 5 * 60 * 1000;
/** Calls in one log entry: the leader batches the writes of several requests. */
export const MAX_CALLS_PER_WRITE_BATCH = 16 * MAX_CALLS_PER_REQUEST;
/**
 * Events one watch answer may hold: one log index's events are never split,
 * so an answer can pass maxEvents by one index's events, which the watch
 * history keeps only up to this many.
 */
export const MAX_WATCH_HISTORY_EVENTS = 1_000_000;

/** What the field checks answer for a type they do not know (said without the type as prefix). */
const UNKNOWN_TYPE = Symbol("unknown type");

export function validateWriteOp(op: WriteOp): void {
  throwIfProblem(writeOpProblem(op));
}

export function validateReadOp(op: ReadOp): void {
  throwIfProblem(readOpProblem(op));
}

export function validateWatchRequest(request: WatchRequest): void {
  throwIfProblem(watchRequestProblem(request));
}

export function validateWriteCall(call: WriteCall): void {
  throwIfProblem(writeCallProblem(call));
}

export function writeCallProblem(call: WriteCall): string | null {
  if (!isObject(call)) return "a write call must be an object";
  const clientIdProblem = stringProblem("clientId", call.clientId, 1, MAX_CLIENT_ID_BYTES, "MAX_CLIENT_ID_BYTES");
  if (clientIdProblem !== null) return clientIdProblem;
  const seqProblem = integerProblem("seq", call.seq, 1, Number.MAX_SAFE_INTEGER);
  if (seqProblem !== null) return seqProblem;
  // The client cannot hold the result of the call it is sending.
  const ackProblem = integerProblem("firstUnackedSeq", call.firstUnackedSeq, 1, call.seq);
  if (ackProblem !== null) return `${ackProblem} (at most the call's seq)`;
  return writeOpProblem(call.op);
}

export function writeOpProblem(op: WriteOp): string | null {
  if (!isObject(op)) return "a write operation must be an object";
  const problem = writeOpFieldsProblem(op);
  if (problem === UNKNOWN_TYPE) return `unknown write operation type ${describeValue((op as { type: unknown }).type)}`;
  return problem === null ? null : `${op.type}: ${problem}`;
}

function writeOpFieldsProblem(op: WriteOp): string | null | typeof UNKNOWN_TYPE {
  switch (op.type) {
    case "put":
    case "getAndPut":
    case "putIfAbsent":
    case "merge":
      return keyProblem("key", op.key) ?? valueProblem("value", op.value);
    case "putAll":
      return listProblem("entries", op.entries, entryProblem);
    case "compareAndPut":
      return compareAndPutProblem(op);
    case "compareAndPutAll":
      return listProblem("entries", op.entries, compareAndPutProblem);
    case "delete":
    case "resetSequence":
      return keyProblem("key", op.key);
    case "deleteAll":
      return listProblem("keys", op.keys, (key) => keyProblem("key", key));
    case "deleteRange":
      return rangeProblem(op.start, op.end);
    case "getSequence":
      return keyProblem("key", op.key) ?? integerProblem("step", op.step, 0, Number.MAX_SAFE_INTEGER);
    case "lockAcquire":
      return keyProblem("key", op.key) ?? ownerProblem(op.owner) ?? leaseProblem(op.leaseMs);
    case "lockRenew":
      return keyProblem("key", op.key) ?? ownerProblem(op.owner) ?? tokenProblem(op.token) ?? leaseProblem(op.leaseMs);
    case "lockRelease":
      return keyProblem("key", op.key) ?? ownerProblem(op.owner) ?? tokenProblem(op.token);
    default:
      return UNKNOWN_TYPE;
  }
}

export function readOpProblem(op: ReadOp): string | null {
  if (!isObject(op)) return "a read operation must be an object";
  const problem = readOpFieldsProblem(op);
  if (problem === UNKNOWN_TYPE) return `unknown read operation type ${describeValue((op as { type: unknown }).type)}`;
  return problem === null ? null : `${op.type}: ${problem}`;
}

function readOpFieldsProblem(op: ReadOp): string | null | typeof UNKNOWN_TYPE {
  switch (op.type) {
    case "get":
    case "containsKey":
      return keyProblem("key", op.key);
    case "multiGet":
      return listProblem("keys", op.keys, (key) => keyProblem("key", key));
    case "scan":
      return (
        (op.end === null ? keyProblem("start", op.start) : rangeProblem(op.start, op.end)) ??
        integerProblem("limit", op.limit, 1, MAX_SCAN_LIMIT) ??
        booleanProblem("reverse", op.reverse) ??
        booleanProblem("keysOnly", op.keysOnly)
      );
    default:
      return UNKNOWN_TYPE;
  }
}

export function watchRequestProblem(request: WatchRequest): string | null {
  if (!isObject(request)) return "a watch request must be an object";
  const problem =
    keyProblem("key", request.key) ??
    booleanProblem("prefix", request.prefix) ??
    integerProblem("fromIndex", request.fromIndex, 0, Number.MAX_SAFE_INTEGER) ??
    integerProblem("maxEvents", request.maxEvents, 1, MAX_WATCH_EVENTS) ??
    integerProblem("waitMs", request.waitMs, 0, MAX_WATCH_WAIT_MS);
  return problem === null ? null : `watch: ${problem}`;
}

function entryProblem(entry: KvEntry): string | null {
  if (!isObject(entry)) return "an entry must be an object with key and value";
  return keyProblem("key", entry.key) ?? valueProblem("value", entry.value);
}

function compareAndPutProblem(entry: CompareAndPutEntry): string | null {
  if (!isObject(entry)) return "an entry must be an object with key, expect and value";
  return keyProblem("key", entry.key) ?? (entry.expect === null ? null : valueProblem("expect", entry.expect)) ?? valueProblem("value", entry.value);
}

function rangeProblem(start: Uint8Array, end: Uint8Array): string | null {
  const problem = keyProblem("start", start) ?? keyProblem("end", end);
  if (problem !== null) return problem;
  return Buffer.compare(start, end) > 0 ? "start is after end (the range [start, end) must not be reversed; use reverse to scan downwards)" : null;
}

function keyProblem(what: string, key: unknown): string | null {
  return bytesProblem(what, key, MAX_KEY_BYTES, "MAX_KEY_BYTES");
}

function valueProblem(what: string, value: unknown): string | null {
  return bytesProblem(what, value, MAX_VALUE_BYTES, "MAX_VALUE_BYTES");
}

function bytesProblem(what: string, value: unknown, maxBytes: number, limitName: string): string | null {
  if (!(value instanceof Uint8Array)) return `${what} must be bytes (a Uint8Array), got ${describeValue(value)}`;
  if (value.byteLength > maxBytes) return `${what} of ${value.byteLength} bytes is above ${limitName} ${maxBytes}`;
  return null;
}

function ownerProblem(owner: unknown): string | null {
  return stringProblem("owner", owner, 1, MAX_LOCK_OWNER_BYTES, "MAX_LOCK_OWNER_BYTES");
}

function tokenProblem(token: unknown): string | null {
  return integerProblem("token", token, 1, Number.MAX_SAFE_INTEGER);
}

function leaseProblem(leaseMs: unknown): string | null {
  return integerProblem("leaseMs", leaseMs, 1, MAX_LEASE_MS);
}

function stringProblem(what: string, value: unknown, minBytes: number, maxBytes: number, limitName: string): string | null {
  if (typeof value !== "string") return `${what} must be a string, got ${describeValue(value)}`;
  const bytes = Buffer.byteLength(value);
  if (bytes < minBytes) return `${what} must not be empty`;
  if (bytes > maxBytes) return `${what} of ${bytes} bytes is above ${limitName} ${maxBytes}`;
  return null;
}

function integerProblem(what: string, value: unknown, min: number, max: number): string | null {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max) return null;
  return `${what} must be an integer from ${min} to ${max}, got ${describeValue(value)}`;
}

function booleanProblem(what: string, value: unknown): string | null {
  return typeof value === "boolean" ? null : `${what} must be a boolean, got ${describeValue(value)}`;
}

function listProblem<T>(what: string, list: readonly T[], itemProblem: (item: T) => string | null): string | null {
  if (!Array.isArray(list)) return `${what} must be an array, got ${describeValue(list)}`;
  if (list.length > MAX_KEYS_PER_OP) return `${list.length} ${what} is above MAX_KEYS_PER_OP ${MAX_KEYS_PER_OP}`;
  for (let i = 0; i < list.length; i++) {
    const problem = itemProblem(list[i] as T);
    if (problem !== null) return `${what}[${i}]: ${problem}`;
  }
  return null;
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}

/** A short description of a bad value, never echoing bytes or long strings. */
/** A value as a short phrase for an error message, whatever it holds (huge, nested, or containing itself). */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return value.length <= 32 ? JSON.stringify(value) : `a string of ${value.length} characters`;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "undefined") return String(value);
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value;
}

function throwIfProblem(problem: string | null): void {
  if (problem !== null) throw new RaftError("EINVAL", problem);
}
