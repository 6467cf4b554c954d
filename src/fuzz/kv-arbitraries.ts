/** Well-formed values of the KV store: operations, calls, requests, results, responses and write batches within every limit. */
import fc from "fast-check";
import { RAFT_ERROR_CODES } from "../errors.js";
import { MAX_LEASE_MS, MAX_SCAN_LIMIT, type KvCall, type KvCallResult, type KvRequest, type ReadOp, type WatchRequest, type WriteBatch, type WriteCall, type WriteOp, type WriteResult } from "../kv/commands.js";
import { label, u53 } from "./wire-arbitraries.js";

const key = fc.oneof(fc.uint8Array({ maxLength: 4 }), fc.uint8Array({ maxLength: 40 }));
const value = fc.uint8Array({ maxLength: 64 });
/** Owners and client ids: at most 64 code points, so within their byte limits. */
const owner = fc.string({ unit: "binary", minLength: 1, maxLength: 64 });
const clientId = fc.string({ unit: "binary", minLength: 1, maxLength: 16 });
const positive = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const lease = fc.integer({ min: 1, max: MAX_LEASE_MS });
const entry = fc.record({ key, value });
const casEntry = fc.record({ key, expect: fc.option(value, { nil: null }), value });
const range = fc.tuple(key, key).map(([a, b]) => (Buffer.compare(a, b) <= 0 ? { start: a, end: b } : { start: b, end: a }));
const list = <T>(item: fc.Arbitrary<T>): fc.Arbitrary<T[]> => fc.array(item, { maxLength: 4 });

const writeOp: fc.Arbitrary<WriteOp> = fc.oneof(
  fc.record({ type: fc.constantFrom("put" as const, "getAndPut" as const, "putIfAbsent" as const, "merge" as const), key, value }),
  fc.record({ type: fc.constant("putAll" as const), entries: list(entry) }),
  casEntry.map((e): WriteOp => ({ type: "compareAndPut", ...e })),
  fc.record({ type: fc.constant("compareAndPutAll" as const), entries: list(casEntry) }),
  fc.record({ type: fc.constantFrom("delete" as const, "resetSequence" as const), key }),
  fc.record({ type: fc.constant("deleteAll" as const), keys: list(key) }),
  range.map((r): WriteOp => ({ type: "deleteRange", ...r })),
  fc.record({ type: fc.constant("getSequence" as const), key, step: u53 }),
  fc.record({ type: fc.constant("lockAcquire" as const), key, owner, leaseMs: lease }),
  fc.record({ type: fc.constant("lockRenew" as const), key, owner, token: positive, leaseMs: lease }),
  fc.record({ type: fc.constant("lockRelease" as const), key, owner, token: positive }),
);

const readOp: fc.Arbitrary<ReadOp> = fc.oneof(
  fc.record({ type: fc.constantFrom("get" as const, "containsKey" as const), key }),
  fc.record({ type: fc.constant("multiGet" as const), keys: list(key) }),
  fc
    .record({ range, open: fc.boolean(), limit: fc.integer({ min: 1, max: MAX_SCAN_LIMIT }), reverse: fc.boolean(), keysOnly: fc.boolean() })
    .map(({ range: r, open, ...rest }): ReadOp => ({ type: "scan", start: r.start, end: open ? null : r.end, ...rest })),
);

/** Short waits: a fuzzed server must not hold a long poll. */
export const MAX_FUZZ_WATCH_WAIT_MS = 20;
const watchRequest: fc.Arbitrary<WatchRequest> = fc.record({
  key,
  prefix: fc.boolean(),
  fromIndex: u53,
  maxEvents: fc.integer({ min: 1, max: MAX_SCAN_LIMIT }),
  waitMs: fc.integer({ min: 0, max: MAX_FUZZ_WATCH_WAIT_MS }),
});

export const writeCall: fc.Arbitrary<WriteCall> = fc
  .record({ clientId, seq: positive, ackBack: u53, op: writeOp })
  .map(({ clientId: id, seq, ackBack, op }) => ({ kind: "write", clientId: id, seq, firstUnackedSeq: Math.max(1, seq - ackBack), op }));

export const kvCall: fc.Arbitrary<KvCall> = fc.oneof(
  writeCall,
  fc.record({ kind: fc.constant("read" as const), consistency: fc.constantFrom("linearizable" as const, "lease" as const, "stale" as const), op: readOp }),
  fc.record({ kind: fc.constant("watch" as const), watch: watchRequest }),
);

export function kvRequest(groupId: fc.Arbitrary<string> = label): fc.Arbitrary<KvRequest> {
  return fc.record({ groupId, calls: fc.array(kvCall, { minLength: 1, maxLength: 4 }) });
}

export const writeBatch: fc.Arbitrary<WriteBatch> = fc.record({ timeMs: u53, calls: fc.array(writeCall, { minLength: 1, maxLength: 4 }) });

const errorResult = fc.record({
  type: fc.constant("error" as const),
  code: fc.constantFrom(...RAFT_ERROR_CODES),
  message: fc.string({ unit: "binary", maxLength: 80 }),
  leaderHint: fc.option(label, { nil: null }),
});

const writeResult: fc.Arbitrary<WriteResult> = fc.oneof(
  fc.constant({ type: "ok" as const }),
  fc.record({ type: fc.constant("value" as const), value: fc.option(value, { nil: null }) }),
  fc.record({ type: fc.constant("bool" as const), value: fc.boolean() }),
  fc.record({ type: fc.constant("count" as const), value: u53 }),
  fc.tuple(u53, u53).map(([a, b]): WriteResult => ({ type: "sequence", start: Math.min(a, b), end: Math.max(a, b) })),
  fc.record({ type: fc.constant("lock" as const), acquired: fc.boolean(), owner: fc.string({ unit: "binary", maxLength: 64 }), token: u53, expiresAtMs: u53 }),
  errorResult,
);

/** Events in log order (several may share an index), nextIndex past the last. */
const events = fc
  .tuple(fc.array(fc.record({ gap: fc.nat({ max: 3 }), put: fc.boolean(), key, value }), { maxLength: 5 }), fc.integer({ min: 1, max: 1000 }))
  .map(([list, first]) => {
    let index = first;
    const out = list.map((e) => {
      index += e.gap;
      return { index, type: e.put ? ("put" as const) : ("delete" as const), key: e.key, value: e.put ? e.value : null };
    });
    return { type: "events" as const, events: out, nextIndex: index + 1 };
  });

export const callResult: fc.Arbitrary<KvCallResult> = fc.oneof(
  writeResult,
  fc.record({ type: fc.constant("values" as const), values: list(fc.option(value, { nil: null })) }),
  fc.record({ type: fc.constant("entries" as const), entries: list(entry) }),
  events,
);

export const kvResponse = fc.record({ results: fc.array(callResult, { maxLength: 4 }) });
