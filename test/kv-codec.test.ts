/** The KV codecs: round trips of every op, call and result, and every kind of malformed input refused with a clear RaftError. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RaftError, type RaftErrorCode } from "../src/errors.js";
import {
  MAX_CALLS_PER_REQUEST,
  MAX_KEYS_PER_OP,
  MAX_KEY_BYTES,
  MAX_LEASE_MS,
  MAX_LOCK_OWNER_BYTES,
  MAX_SCAN_LIMIT,
  MAX_VALUE_BYTES,
  type KvCall,
  type KvCallResult,
  type KvRequest,
  type ReadOp,
  type WatchRequest,
  type WriteBatch,
  type WriteCall,
  type WriteOp,
} from "../src/kv/commands.js";
import {
  MAX_ERROR_MESSAGE_CHARS,
  decodeKvRequest,
  decodeKvResponse,
  decodeWriteBatch,
  encodeKvRequest,
  encodeKvResponse,
  encodeWriteBatch,
  validateReadOp,
  validateWatchRequest,
  validateWriteCall,
  validateWriteOp,
} from "../src/kv/kv-codec.js";
import { BinaryWriter } from "../src/transport/binary.js";
import { callResult, kvCall, writeCall } from "../src/fuzz/kv-arbitraries.js";
import { MAX_CLIENT_ID_BYTES, MAX_WATCH_WAIT_MS } from "../src/kv/kv-validation.js";

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: [...value] };
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function expectError(action: () => unknown, code: RaftErrorCode, pattern: RegExp): RaftError {
  let thrown: unknown = null;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof RaftError, `expected a RaftError ${code}, got ${String(thrown)}`);
  assert.equal(thrown.code, code, thrown.message);
  assert.match(thrown.message, pattern);
  return thrown;
}

const put = (k: Uint8Array, v: Uint8Array): WriteOp => ({ type: "put", key: k, value: v });
const writeOf = (op: WriteOp, seq = 1, firstUnackedSeq = 1): WriteCall => ({ kind: "write", clientId: "client-a", seq, firstUnackedSeq, op });
const requestOf = (...calls: KvCall[]): KvRequest => ({ groupId: "kv", calls });
const decodeRequestOf = (...calls: KvCall[]): KvRequest => decodeKvRequest(encodeKvRequest(requestOf(...calls)));

// --- round trips ---

test("every write batch survives an encode/decode round trip", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.array(writeCall, { minLength: 1, maxLength: 6 }), (timeMs, calls) => {
      const batch: WriteBatch = { timeMs, calls };
      const bytesOut = encodeWriteBatch(batch);
      assert.equal(bytesOut[0], 1, "starts with the format version");
      assert.deepEqual(plain(decodeWriteBatch(bytesOut)), plain(batch));
    }),
  );
});

test("the write calls of every request the server accepts encode into a write batch that decodes to the same calls", () => {
  // The leader applies the calls it decoded from requests (ProposedWriteBatch); its followers decode the batch.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.array(writeCall, { minLength: 1, maxLength: 6 }), (timeMs, calls) => {
      const accepted = decodeKvRequest(encodeKvRequest({ groupId: "kv", calls })).calls.filter((call): call is WriteCall => call.kind === "write");
      assert.deepEqual(plain(decodeWriteBatch(encodeWriteBatch({ timeMs, calls: accepted }))), plain({ timeMs, calls: accepted }));
    }),
  );
});

test("encoders size their buffer up front: a batch of 256 puts and its request fill most of the memory they take", () => {
  const calls = Array.from({ length: 256 }, (_, i) => writeOf(put(Buffer.from(`k${String(i).padStart(15, "0")}`), Buffer.alloc(256, 97)), i + 1, i + 1));
  for (const encoded of [encodeWriteBatch({ timeMs: 1, calls }), encodeKvRequest(requestOf(...calls))]) {
    assert.ok(encoded.buffer.byteLength < encoded.byteLength * 1.25, `${encoded.byteLength} bytes in a buffer of ${encoded.buffer.byteLength}`);
  }
});

test("every request (write, read and watch calls) survives an encode/decode round trip", () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.array(kvCall, { minLength: 1, maxLength: 6 }), (groupId, calls) => {
      const request: KvRequest = { groupId, calls };
      assert.deepEqual(plain(decodeKvRequest(encodeKvRequest(request))), plain(request));
    }),
  );
});

test("every response (every result type) survives an encode/decode round trip", () => {
  fc.assert(
    fc.property(fc.array(callResult, { maxLength: 8 }), (results) => {
      assert.deepEqual(plain(decodeKvResponse(encodeKvResponse({ results }))), plain({ results }));
    }),
  );
});

test("decoded bytes are views into the input, not copies", () => {
  const encoded = encodeKvRequest(requestOf(writeOf(put(Buffer.from("k"), Buffer.from("value")))));
  const decoded = decodeKvRequest(encoded).calls[0] as WriteCall;
  const op = decoded.op as { key: Uint8Array; value: Uint8Array };
  assert.equal(op.value.buffer, encoded.buffer);
  assert.equal(Buffer.from(op.value).toString(), "value");
});

test("an error text longer than the limit is cut when encoded, and refused when decoded", () => {
  const long = "x".repeat(MAX_ERROR_MESSAGE_CHARS + 50);
  const decoded = decodeKvResponse(encodeKvResponse({ results: [{ type: "error", code: "EBUSY", message: long, leaderHint: null }] }));
  const result = decoded.results[0]!;
  assert.equal(result.type, "error");
  assert.equal(result.type === "error" && result.message.length, MAX_ERROR_MESSAGE_CHARS);
  const forged = new BinaryWriter();
  forged.u8(1); // version
  forged.u32(1); // one result
  forged.u8(10); // error
  forged.string("EBUSY");
  forged.string(long);
  forged.u8(0); // no leader hint
  expectError(() => decodeKvResponse(forged.finish()), "ECORRUPT", /an error text of 2050 characters \(at most 2000\)/);
});

// --- validation before sending ---

test("validateWriteOp names the field, its size and the limit", () => {
  expectError(() => validateWriteOp(put(new Uint8Array(20_000), new Uint8Array(0))), "EINVAL", /^EINVAL: put: key of 20000 bytes is above MAX_KEY_BYTES 16384$/);
  expectError(() => validateWriteOp(put(new Uint8Array(1), new Uint8Array(MAX_VALUE_BYTES + 1))), "EINVAL", /put: value of 1048577 bytes is above MAX_VALUE_BYTES 1048576/);
  const entries = Array.from({ length: MAX_KEYS_PER_OP + 1 }, () => ({ key: new Uint8Array(1), value: new Uint8Array(1) }));
  expectError(() => validateWriteOp({ type: "putAll", entries }), "EINVAL", /putAll: 10001 entries is above MAX_KEYS_PER_OP 10000/);
  expectError(() => validateWriteOp({ type: "deleteAll", keys: [new Uint8Array(1), new Uint8Array(MAX_KEY_BYTES + 1)] }), "EINVAL", /deleteAll: keys\[1\]: key of 16385 bytes/);
  expectError(() => validateWriteOp({ type: "lockAcquire", key: new Uint8Array(1), owner: "o", leaseMs: 0 }), "EINVAL", /lockAcquire: leaseMs must be an integer from 1 to 86400000, got 0/);
  expectError(() => validateWriteOp({ type: "lockAcquire", key: new Uint8Array(1), owner: "o", leaseMs: MAX_LEASE_MS + 1 }), "EINVAL", /leaseMs must be an integer from 1 to 86400000/);
  expectError(() => validateWriteOp({ type: "lockAcquire", key: new Uint8Array(1), owner: "", leaseMs: 10 }), "EINVAL", /owner must not be empty/);
  expectError(() => validateWriteOp({ type: "lockRelease", key: new Uint8Array(1), owner: "o".repeat(MAX_LOCK_OWNER_BYTES + 1), token: 1 }), "EINVAL", /owner of 257 bytes is above MAX_LOCK_OWNER_BYTES 256/);
  expectError(() => validateWriteOp({ type: "lockRenew", key: new Uint8Array(1), owner: "o", token: 0, leaseMs: 5 }), "EINVAL", /token must be an integer from 1/);
  expectError(() => validateWriteOp({ type: "getSequence", key: new Uint8Array(1), step: -1 }), "EINVAL", /step must be an integer from 0 to 9007199254740991, got -1/);
  expectError(() => validateWriteOp({ type: "getSequence", key: new Uint8Array(1), step: 1.5 }), "EINVAL", /got 1.5/);
  expectError(() => validateWriteOp({ type: "deleteRange", start: Buffer.from("b"), end: Buffer.from("a") }), "EINVAL", /deleteRange: start is after end/);
  expectError(() => validateWriteOp({ type: "put", key: "text", value: new Uint8Array(0) } as unknown as WriteOp), "EINVAL", /key must be bytes \(a Uint8Array\), got "text"/);
  expectError(() => validateWriteOp({ type: "frobnicate" } as unknown as WriteOp), "EINVAL", /^EINVAL: unknown write operation type "frobnicate"$/);
  expectError(() => validateReadOp({ type: undefined } as unknown as ReadOp), "EINVAL", /^EINVAL: unknown read operation type undefined$/);
  expectError(() => validateWriteOp(null as unknown as WriteOp), "EINVAL", /must be an object/);
  validateWriteOp({ type: "compareAndPutAll", entries: [{ key: new Uint8Array(0), expect: null, value: new Uint8Array(MAX_VALUE_BYTES) }] });
});

test("validateReadOp, validateWatchRequest and validateWriteCall refuse what the decoders refuse", () => {
  expectError(() => validateReadOp({ type: "scan", start: Buffer.from("a"), end: null, limit: 0, reverse: false, keysOnly: false }), "EINVAL", /scan: limit must be an integer from 1 to 100000, got 0/);
  expectError(() => validateReadOp({ type: "scan", start: Buffer.from("z"), end: Buffer.from("a"), limit: 5, reverse: true, keysOnly: false }), "EINVAL", /start is after end/);
  expectError(() => validateReadOp({ type: "multiGet", keys: "abc" as unknown as Uint8Array[] }), "EINVAL", /keys must be an array/);
  const watch: WatchRequest = { key: new Uint8Array(0), prefix: true, fromIndex: 0, maxEvents: 10, waitMs: MAX_WATCH_WAIT_MS + 1 };
  expectError(() => validateWatchRequest(watch), "EINVAL", /watch: waitMs must be an integer from 0 to 300000/);
  expectError(() => validateWriteCall({ ...writeOf(put(new Uint8Array(1), new Uint8Array(1))), clientId: "c".repeat(MAX_CLIENT_ID_BYTES + 1) }), "EINVAL", /clientId of 65 bytes is above MAX_CLIENT_ID_BYTES 64/);
  expectError(() => validateWriteCall(writeOf(put(new Uint8Array(1), new Uint8Array(1)), 3, 4)), "EINVAL", /firstUnackedSeq must be an integer from 1 to 3, got 4 \(at most the call's seq\)/);
  expectError(() => validateWriteCall(writeOf(put(new Uint8Array(1), new Uint8Array(1)), 0, 0)), "EINVAL", /seq must be an integer from 1/);
});

// --- malformed input refused ---

test("a request breaking a limit is refused with EINVAL naming the call and the field", () => {
  const big = new Uint8Array(20_000);
  expectError(() => decodeRequestOf(writeOf(put(big, new Uint8Array(0)))), "EINVAL", /a KV request: call 0: put: key of 20000 bytes is above MAX_KEY_BYTES 16384/);
  const ok = writeOf(put(new Uint8Array(1), new Uint8Array(1)));
  expectError(() => decodeRequestOf(ok, writeOf(put(new Uint8Array(1), new Uint8Array(MAX_VALUE_BYTES + 1)))), "EINVAL", /call 1: put: value of 1048577 bytes/);
  expectError(() => decodeRequestOf(writeOf({ type: "lockAcquire", key: new Uint8Array(1), owner: "o", leaseMs: MAX_LEASE_MS + 1 })), "EINVAL", /leaseMs must be an integer from 1 to 86400000/);
  expectError(() => decodeRequestOf(writeOf({ type: "lockAcquire", key: new Uint8Array(1), owner: "x".repeat(300), leaseMs: 10 })), "EINVAL", /owner of 300 bytes is above MAX_LOCK_OWNER_BYTES/);
  expectError(() => decodeRequestOf(writeOf(put(new Uint8Array(1), new Uint8Array(1)), 2, 3)), "EINVAL", /firstUnackedSeq/);
  expectError(() => decodeRequestOf({ kind: "read", consistency: "stale", op: { type: "scan", start: new Uint8Array(0), end: null, limit: MAX_SCAN_LIMIT + 1, reverse: false, keysOnly: false } }), "EINVAL", /limit must be/);
  expectError(() => decodeRequestOf({ kind: "watch", watch: { key: new Uint8Array(0), prefix: false, fromIndex: 1, maxEvents: 0, waitMs: 0 } }), "EINVAL", /watch: maxEvents must be/);
  const tooMany = Array.from({ length: MAX_KEYS_PER_OP + 1 }, () => new Uint8Array(0));
  expectError(() => decodeRequestOf({ kind: "read", consistency: "lease", op: { type: "multiGet", keys: tooMany } }), "EINVAL", /10001 multiGet keys \(must be 0 to 10000\)/);
  expectError(() => decodeKvRequest(encodeKvRequest({ groupId: "kv", calls: [] })), "EINVAL", /0 calls \(must be 1 to 4096\)/);
  const calls = Array.from({ length: MAX_CALLS_PER_REQUEST + 1 }, () => ok);
  expectError(() => decodeKvRequest(encodeKvRequest({ groupId: "kv", calls })), "EINVAL", /4097 calls/);
  expectError(() => decodeKvRequest(encodeKvRequest({ groupId: "", calls: [ok] })), "EINVAL", /groupId has 0 bytes/);
  expectError(() => decodeRequestOf(writeOf(put(new Uint8Array(1), new Uint8Array(1)), 2 ** 53, 1)), "EINVAL", /integer past 2\^53/);
});

test("structural damage to a request is EINVAL: version, type codes, booleans, UTF-8, trailing and missing bytes", () => {
  const valid = encodeKvRequest(requestOf(writeOf({ type: "lockRelease", key: Buffer.from("k"), owner: "ab", token: 7 })));
  const patched = (offset: number, byte: number): Uint8Array => {
    const copy = Buffer.from(valid);
    copy[offset] = byte;
    return copy;
  };
  // Layout: version, groupId (4+2), count (4), kind (1), clientId (4+8), seq (8), ack (8), op code (1), key (4+1), owner (4+2), token (8).
  const kindAt = 1 + 6 + 4;
  const opCodeAt = kindAt + 1 + 12 + 8 + 8;
  const ownerAt = opCodeAt + 1 + 5 + 4;
  expectError(() => decodeKvRequest(patched(0, 9)), "EINVAL", /format version 9 is unknown \(this build reads version 1\)/);
  expectError(() => decodeKvRequest(patched(kindAt, 7)), "EINVAL", /unknown call kind code 7/);
  expectError(() => decodeKvRequest(patched(opCodeAt, 99)), "EINVAL", /unknown write operation type code 99/);
  expectError(() => decodeKvRequest(patched(ownerAt, 0xff)), "EINVAL", /not valid UTF-8/);
  expectError(() => decodeKvRequest(Buffer.concat([valid, Buffer.from([0])])), "EINVAL", /1 unexpected trailing bytes/);
  expectError(() => decodeKvRequest(valid.subarray(0, valid.length - 3)), "EINVAL", /truncated/);
  expectError(() => decodeKvRequest(new Uint8Array(0)), "EINVAL", /truncated/);
  expectError(() => decodeKvRequest("not bytes" as unknown as Uint8Array), "EINVAL", /must be bytes/);
  const scan = encodeKvRequest(requestOf({ kind: "read", consistency: "stale", op: { type: "scan", start: new Uint8Array(0), end: null, limit: 3, reverse: false, keysOnly: true } }));
  const badFlag = Buffer.from(scan);
  badFlag[badFlag.length - 1] = 2;
  expectError(() => decodeKvRequest(badFlag), "EINVAL", /keysOnly is 2, expected 0 or 1/);
});

test("a malformed write batch or response is ECORRUPT", () => {
  const batch = encodeWriteBatch({ timeMs: 5, calls: [writeOf(put(new Uint8Array(MAX_KEY_BYTES + 1), new Uint8Array(0)))] });
  expectError(() => decodeWriteBatch(batch), "ECORRUPT", /a KV write batch: call 0: put: key of 16385 bytes/);
  expectError(() => decodeWriteBatch(encodeWriteBatch({ timeMs: 5, calls: [] })), "ECORRUPT", /0 calls/);
  expectError(() => decodeWriteBatch(new Uint8Array([1, 0, 0])), "ECORRUPT", /truncated/);
  const response = (result: KvCallResult): Uint8Array => encodeKvResponse({ results: [result] });
  expectError(() => decodeKvResponse(response({ type: "sequence", start: 9, end: 3 })), "ECORRUPT", /a sequence ends at 3, before its start 9/);
  expectError(() => decodeKvResponse(response({ type: "error", code: "EWHAT" as RaftErrorCode, message: "m", leaderHint: null })), "ECORRUPT", /unknown error code "EWHAT"/);
  expectError(() => decodeKvResponse(response({ type: "value", value: new Uint8Array(MAX_VALUE_BYTES + 1) })), "ECORRUPT", /value of 1048577 bytes is above 1048576/);
  const unordered: KvCallResult = { type: "events", events: [{ index: 5, type: "delete", key: new Uint8Array(1), value: null }, { index: 4, type: "delete", key: new Uint8Array(1), value: null }], nextIndex: 6 };
  expectError(() => decodeKvResponse(response(unordered)), "ECORRUPT", /event 1 is at index 4, before 5/);
  const stale: KvCallResult = { type: "events", events: [{ index: 5, type: "delete", key: new Uint8Array(1), value: null }], nextIndex: 5 };
  expectError(() => decodeKvResponse(response(stale)), "ECORRUPT", /nextIndex 5 is not past the last event's index 5/);
  expectError(() => decodeKvResponse(new Uint8Array([1, 0, 0, 0, 1, 42])), "ECORRUPT", /unknown result 0's type code 42/);
});
