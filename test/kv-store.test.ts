/** KvStore: the semantics of every operation, locks and sequences, and a model check against a naive Map. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_VALUE_BYTES, type KvEntry, type ReadOp, type ReadResult, type WriteOp, type WriteResult } from "../src/kv/commands.js";
import { KvStore, type KvChangeEvent } from "../src/kv/kv-store.js";
import { compareKeys } from "../src/kv/kv-key-tree.js";

const b = (text: string): Buffer => Buffer.from(text, "utf8");
const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : Buffer.from(bytes).toString("utf8"));
const T0 = 1_000_000;

function write(store: KvStore, op: WriteOp, timeMs = T0): WriteResult {
  return store.applyWrite(op, timeMs).result;
}

function get(store: KvStore, key: string): string | null {
  const result = store.read({ type: "get", key: b(key) });
  assert.equal(result.type, "value");
  return result.type === "value" ? text(result.value) : null;
}

function scan(store: KvStore, start: string, end: string | null, limit: number, reverse = false, keysOnly = false): string[] {
  const result = store.read({ type: "scan", start: b(start), end: end === null ? null : b(end), limit, reverse, keysOnly });
  assert.equal(result.type, "entries");
  return result.type === "entries" ? result.entries.map((e) => `${text(e.key)}=${text(e.value)}`) : [];
}

function filled(...keys: string[]): KvStore {
  const store = new KvStore();
  write(store, { type: "putAll", entries: keys.map((k) => ({ key: b(k), value: b(k.toUpperCase()) })) });
  return store;
}

function eventsText(events: readonly KvChangeEvent[]): string[] {
  return events.map((e) => `${e.type} ${e.keyName}${e.value === null ? "" : `=${e.value}`}`);
}

test("put, get, multiGet and containsKey; the store keeps copies of what it is given", () => {
  const store = new KvStore();
  const key = b("k1");
  const value = b("v1");
  const outcome = store.applyWrite({ type: "put", key, value }, T0);
  assert.deepEqual(outcome.result, { type: "ok" });
  assert.deepEqual(eventsText(outcome.events), ["put k1=v1"]);
  key[0] = 0x41;
  value[0] = 0x41;
  assert.equal(get(store, "k1"), "v1", "changing the caller's buffers changes nothing stored");
  assert.equal(get(store, "missing"), null);
  const many = store.read({ type: "multiGet", keys: [b("k1"), b("nope"), b("k1")] });
  assert.deepEqual(many.type === "values" && many.values.map(text), ["v1", null, "v1"]);
  assert.deepEqual(store.read({ type: "containsKey", key: b("k1") }), { type: "bool", value: true });
  assert.deepEqual(store.read({ type: "containsKey", key: b("k2") }), { type: "bool", value: false });
  write(store, { type: "put", key: new Uint8Array(0), value: b("empty key") });
  assert.equal(get(store, ""), "empty key", "the empty key is a key like any other");
  assert.equal(store.keyCount, 2);
});

test("getAndPut and putIfAbsent answer the value before", () => {
  const store = new KvStore();
  const first = write(store, { type: "getAndPut", key: b("k"), value: b("1") });
  assert.deepEqual(first, { type: "value", value: null });
  const second = write(store, { type: "getAndPut", key: b("k"), value: b("2") });
  assert.equal(second.type === "value" && text(second.value), "1");
  const absent = store.applyWrite({ type: "putIfAbsent", key: b("n"), value: b("x") }, T0);
  assert.deepEqual(absent.result, { type: "value", value: null });
  assert.equal(absent.events.length, 1);
  const present = store.applyWrite({ type: "putIfAbsent", key: b("n"), value: b("y") }, T0);
  assert.equal(present.result.type === "value" && text(present.result.value), "x");
  assert.equal(present.events.length, 0, "nothing written, no event");
  assert.equal(get(store, "n"), "x");
});

test("compareAndPut: null expects absence; a mismatch writes nothing", () => {
  const store = new KvStore();
  assert.deepEqual(write(store, { type: "compareAndPut", key: b("k"), expect: null, value: b("1") }), { type: "bool", value: true });
  assert.deepEqual(write(store, { type: "compareAndPut", key: b("k"), expect: null, value: b("2") }), { type: "bool", value: false });
  assert.deepEqual(write(store, { type: "compareAndPut", key: b("k"), expect: b("9"), value: b("2") }), { type: "bool", value: false });
  assert.equal(get(store, "k"), "1");
  assert.deepEqual(write(store, { type: "compareAndPut", key: b("k"), expect: b("1"), value: b("2") }), { type: "bool", value: true });
  assert.equal(get(store, "k"), "2");
  assert.deepEqual(write(store, { type: "compareAndPut", key: b("k"), expect: new Uint8Array(0), value: b("3") }), { type: "bool", value: false }, "empty is not absent");
});

test("compareAndPutAll is atomic: one failed expectation and nothing is written", () => {
  const store = filled("a", "b");
  const failing = store.applyWrite(
    {
      type: "compareAndPutAll",
      entries: [
        { key: b("a"), expect: b("A"), value: b("a2") },
        { key: b("c"), expect: null, value: b("c2") },
        { key: b("b"), expect: b("wrong"), value: b("b2") },
      ],
    },
    T0,
  );
  assert.deepEqual(failing.result, { type: "bool", value: false });
  assert.deepEqual(failing.events, []);
  assert.deepEqual(scan(store, "", null, 10), ["a=A", "b=B"]);
  const passing = store.applyWrite(
    { type: "compareAndPutAll", entries: [{ key: b("a"), expect: b("A"), value: b("a2") }, { key: b("c"), expect: null, value: b("c2") }] },
    T0,
  );
  assert.deepEqual(passing.result, { type: "bool", value: true });
  assert.deepEqual(eventsText(passing.events), ["put a=a2", "put c=c2"]);
  assert.deepEqual(scan(store, "", null, 10), ["a=a2", "b=B", "c=c2"]);
  // Expectations see the state before the operation, not each other's writes.
  const chained = write(store, { type: "compareAndPutAll", entries: [{ key: b("d"), expect: null, value: b("1") }, { key: b("d"), expect: b("1"), value: b("2") }] });
  assert.deepEqual(chained, { type: "bool", value: false });
  assert.equal(get(store, "d"), null);
});

test("merge appends (creating the key); past MAX_VALUE_BYTES it is an error result and writes nothing", () => {
  const store = new KvStore();
  assert.deepEqual(write(store, { type: "merge", key: b("m"), value: b("ab") }), { type: "ok" });
  const outcome = store.applyWrite({ type: "merge", key: b("m"), value: b("cd") }, T0);
  assert.deepEqual(eventsText(outcome.events), ["put m=abcd"]);
  assert.equal(get(store, "m"), "abcd");
  write(store, { type: "put", key: b("big"), value: new Uint8Array(MAX_VALUE_BYTES - 1) });
  assert.deepEqual(write(store, { type: "merge", key: b("big"), value: b("x") }), { type: "ok" }, "exactly the limit is fine");
  const over = store.applyWrite({ type: "merge", key: b("big"), value: b("y") }, T0);
  assert.equal(over.result.type, "error");
  assert.equal(over.result.type === "error" && over.result.code, "EINVAL");
  assert.match(over.result.type === "error" ? over.result.message : "", /value would grow to 1048577 bytes, above MAX_VALUE_BYTES 1048576/);
  assert.deepEqual(over.events, []);
  const kept = store.read({ type: "get", key: b("big") });
  assert.equal(kept.type === "value" && kept.value?.length, MAX_VALUE_BYTES);
});

test("delete and deleteAll count what existed; deleteRange removes [start, end) only", () => {
  const store = filled("a", "b", "ba", "bz", "c", "d");
  assert.deepEqual(write(store, { type: "delete", key: b("a") }), { type: "bool", value: true });
  assert.deepEqual(store.applyWrite({ type: "delete", key: b("a") }, T0), { result: { type: "bool", value: false }, events: [] });
  const all = store.applyWrite({ type: "deleteAll", keys: [b("d"), b("zz"), b("d")] }, T0);
  assert.deepEqual(all.result, { type: "count", value: 1 });
  assert.deepEqual(eventsText(all.events), ["delete d"]);
  const range = store.applyWrite({ type: "deleteRange", start: b("b"), end: b("c") }, T0);
  assert.deepEqual(range.result, { type: "count", value: 3 });
  assert.deepEqual(eventsText(range.events), ["delete b", "delete ba", "delete bz"], "in key order; the end key stays");
  assert.deepEqual(scan(store, "", null, 10), ["c=C"]);
  assert.deepEqual(write(store, { type: "deleteRange", start: b("c"), end: b("c") }), { type: "count", value: 0 }, "an empty range");
  assert.deepEqual(write(store, { type: "deleteRange", start: new Uint8Array(0), end: b("\u0000") }), { type: "count", value: 0 });
});

test("scan and reverse scan: [start, end), limits, open end, keysOnly and unsigned byte order", () => {
  const store = filled("a", "b", "c", "d", "e");
  assert.deepEqual(scan(store, "b", "d", 10), ["b=B", "c=C"]);
  assert.deepEqual(scan(store, "b", "d", 10, true), ["c=C", "b=B"], "reverse starts below the end");
  assert.deepEqual(scan(store, "bb", "dd", 10, true), ["d=D", "c=C"], "bounds that are not keys");
  assert.deepEqual(scan(store, "", null, 2), ["a=A", "b=B"]);
  assert.deepEqual(scan(store, "", null, 2, true), ["e=E", "d=D"]);
  assert.deepEqual(scan(store, "c", null, 100), ["c=C", "d=D", "e=E"]);
  assert.deepEqual(scan(store, "c", null, 100, true), ["e=E", "d=D", "c=C"]);
  assert.deepEqual(scan(store, "c", "c", 5), []);
  assert.deepEqual(scan(store, "c", "c", 5, true), []);
  assert.deepEqual(scan(store, "f", null, 5), []);
  assert.deepEqual(scan(store, "", "a", 5, true), []);
  assert.deepEqual(scan(store, "a", "c", 5, false, true), ["a=", "b="], "keysOnly: values come back empty");
  assert.deepEqual(scan(new KvStore(), "", null, 5, true), [], "an empty store");

  const bytesStore = new KvStore();
  for (const key of [[0x7f], [0x80], [0x00], [0xff, 0x00], [0xff]]) write(bytesStore, { type: "put", key: Uint8Array.from(key), value: new Uint8Array(0) });
  const keys = (r: ReadResult): number[][] => (r.type === "entries" ? r.entries.map((e: KvEntry) => [...e.key]) : []);
  const everything: ReadOp = { type: "scan", start: new Uint8Array(0), end: null, limit: 10, reverse: false, keysOnly: true };
  assert.deepEqual(keys(bytesStore.read(everything)), [[0x00], [0x7f], [0x80], [0xff], [0xff, 0x00]]);
  assert.deepEqual(keys(bytesStore.read({ ...everything, reverse: true, end: Uint8Array.from([0xff]) })), [[0x80], [0x7f], [0x00]]);
});

test("sequences: reserve [start, end), step 0 reads, reset answers the value before, overflow is an error result", () => {
  const store = new KvStore();
  write(store, { type: "put", key: b("s"), value: b("data") });
  assert.deepEqual(write(store, { type: "getSequence", key: b("s"), step: 0 }), { type: "sequence", start: 0, end: 0 });
  assert.equal(store.sequenceCount, 0, "reading does not create the sequence");
  assert.deepEqual(write(store, { type: "getSequence", key: b("s"), step: 10 }), { type: "sequence", start: 0, end: 10 });
  assert.deepEqual(write(store, { type: "getSequence", key: b("s"), step: 5 }), { type: "sequence", start: 10, end: 15 });
  assert.deepEqual(write(store, { type: "getSequence", key: b("s"), step: 0 }), { type: "sequence", start: 15, end: 15 });
  assert.equal(get(store, "s"), "data", "sequences live apart from the data keys");
  const near = Number.MAX_SAFE_INTEGER - 20;
  assert.deepEqual(write(store, { type: "getSequence", key: b("big"), step: near }), { type: "sequence", start: 0, end: near });
  const over = write(store, { type: "getSequence", key: b("big"), step: 21 });
  assert.equal(over.type === "error" && over.code, "EINVAL");
  assert.match(over.type === "error" ? over.message : "", /would pass 2\^53 - 1/);
  assert.deepEqual(write(store, { type: "getSequence", key: b("big"), step: 20 }), { type: "sequence", start: near, end: Number.MAX_SAFE_INTEGER }, "up to 2^53 - 1 exactly");
  assert.deepEqual(write(store, { type: "resetSequence", key: b("s") }), { type: "count", value: 15 });
  assert.deepEqual(write(store, { type: "resetSequence", key: b("s") }), { type: "count", value: 0 });
  assert.deepEqual(write(store, { type: "getSequence", key: b("s"), step: 1 }), { type: "sequence", start: 0, end: 1 });
});

test("locks: acquire, re-acquire by the holder, refusal, expiry by store time, strictly growing fencing tokens", () => {
  const store = new KvStore();
  const acquire = (key: string, owner: string, timeMs: number, leaseMs = 100): WriteResult => write(store, { type: "lockAcquire", key: b(key), owner, leaseMs }, timeMs);
  assert.deepEqual(acquire("L", "alice", 1000), { type: "lock", acquired: true, owner: "alice", token: 1, expiresAtMs: 1100 });
  assert.deepEqual(acquire("L", "bob", 1050), { type: "lock", acquired: false, owner: "alice", token: 1, expiresAtMs: 1100 }, "bob learns who holds it");
  assert.deepEqual(acquire("L", "alice", 1060, 500), { type: "lock", acquired: true, owner: "alice", token: 1, expiresAtMs: 1560 }, "the holder extends, same token");
  assert.deepEqual(acquire("M", "carol", 1070), { type: "lock", acquired: true, owner: "carol", token: 2, expiresAtMs: 1170 }, "tokens grow across locks");
  assert.equal(store.read({ type: "get", key: b("L") }).type === "value" && get(store, "L"), null, "locks live apart from the data keys");
  assert.deepEqual(acquire("L", "bob", 1559), { type: "lock", acquired: false, owner: "alice", token: 1, expiresAtMs: 1560 });
  assert.deepEqual(acquire("L", "bob", 1560), { type: "lock", acquired: true, owner: "bob", token: 3, expiresAtMs: 1660 }, "expired at expiresAtMs: a new token");
  assert.deepEqual(acquire("L", "alice", 1600), { type: "lock", acquired: false, owner: "bob", token: 3, expiresAtMs: 1660 });
  assert.deepEqual(acquire("L", "bob", 5000), { type: "lock", acquired: true, owner: "bob", token: 4, expiresAtMs: 5100 }, "the same owner after expiry is a new acquisition");
  assert.equal(store.lastFencingToken, 4);
});

test("lock renew and release need the unexpired holder's owner and token", () => {
  const store = new KvStore();
  write(store, { type: "lockAcquire", key: b("L"), owner: "alice", leaseMs: 100 }, 1000);
  const renew = (owner: string, token: number, timeMs: number): WriteResult => write(store, { type: "lockRenew", key: b("L"), owner, token, leaseMs: 100 }, timeMs);
  const release = (owner: string, token: number, timeMs: number): WriteResult => write(store, { type: "lockRelease", key: b("L"), owner, token }, timeMs);
  assert.deepEqual(renew("alice", 2, 1050), { type: "lock", acquired: false, owner: "alice", token: 1, expiresAtMs: 1100 }, "wrong token");
  assert.deepEqual(renew("bob", 1, 1050), { type: "lock", acquired: false, owner: "alice", token: 1, expiresAtMs: 1100 }, "wrong owner");
  assert.deepEqual(renew("alice", 1, 1050), { type: "lock", acquired: true, owner: "alice", token: 1, expiresAtMs: 1150 });
  assert.deepEqual(renew("alice", 1, 1150), { type: "lock", acquired: false, owner: "", token: 0, expiresAtMs: 0 }, "renew after expiry fails: the lock is free");
  write(store, { type: "lockAcquire", key: b("L"), owner: "alice", leaseMs: 100 }, 2000);
  assert.deepEqual(release("alice", 1, 2010), { type: "bool", value: false }, "an old token releases nothing");
  assert.deepEqual(release("bob", 2, 2010), { type: "bool", value: false });
  assert.deepEqual(release("alice", 2, 2010), { type: "bool", value: true });
  assert.deepEqual(release("alice", 2, 2011), { type: "bool", value: false }, "released already");
  assert.equal(store.lockCount, 0);
  write(store, { type: "lockAcquire", key: b("L"), owner: "alice", leaseMs: 100 }, 3000);
  assert.deepEqual(release("alice", 3, 3100), { type: "bool", value: false }, "an expired lock cannot be released: it was lost");
  const far = write(store, { type: "lockAcquire", key: b("F"), owner: "x", leaseMs: 10 }, Number.MAX_SAFE_INTEGER - 5);
  assert.equal(far.type === "error" && far.code, "EINVAL", "a lease ending past 2^53 is an error result");
});

// --- model check ---

/** The naive model: a Map by hex key, sorted on demand. */
class ModelStore {
  readonly map = new Map<string, Buffer>();

  apply(op: WriteOp): WriteResult {
    const has = (k: Uint8Array): boolean => this.map.has(hex(k));
    const at = (k: Uint8Array): Buffer | null => this.map.get(hex(k)) ?? null;
    const set = (k: Uint8Array, v: Uint8Array): void => void this.map.set(hex(k), Buffer.from(v));
    const holds = (e: { key: Uint8Array; expect: Uint8Array | null }): boolean => (e.expect === null ? !has(e.key) : at(e.key)?.equals(e.expect) === true);
    switch (op.type) {
      case "put":
        set(op.key, op.value);
        return { type: "ok" };
      case "putAll":
        for (const e of op.entries) set(e.key, e.value);
        return { type: "ok" };
      case "getAndPut": {
        const before = at(op.key);
        set(op.key, op.value);
        return { type: "value", value: before };
      }
      case "compareAndPut":
        if (!holds(op)) return { type: "bool", value: false };
        set(op.key, op.value);
        return { type: "bool", value: true };
      case "compareAndPutAll":
        if (!op.entries.every(holds)) return { type: "bool", value: false };
        for (const e of op.entries) set(e.key, e.value);
        return { type: "bool", value: true };
      case "putIfAbsent": {
        const before = at(op.key);
        if (before === null) set(op.key, op.value);
        return { type: "value", value: before };
      }
      case "merge":
        set(op.key, Buffer.concat([at(op.key) ?? Buffer.alloc(0), op.value]));
        return { type: "ok" };
      case "delete":
        return { type: "bool", value: this.map.delete(hex(op.key)) };
      case "deleteAll":
        return { type: "count", value: op.keys.filter((k) => this.map.delete(hex(k))).length };
      case "deleteRange": {
        const doomed = this.sorted().filter(([k]) => Buffer.compare(k, op.start) >= 0 && Buffer.compare(k, op.end) < 0);
        for (const [k] of doomed) this.map.delete(hex(k));
        return { type: "count", value: doomed.length };
      }
      default:
        throw new Error(`the model has no ${op.type}`);
    }
  }

  scan(start: Uint8Array, end: Uint8Array | null, limit: number, reverse: boolean): KvEntry[] {
    const inRange = this.sorted().filter(([k]) => Buffer.compare(k, start) >= 0 && (end === null || Buffer.compare(k, end) < 0));
    return (reverse ? inRange.reverse() : inRange).slice(0, limit).map(([key, value]) => ({ key, value }));
  }

  sorted(): [Buffer, Buffer][] {
    return [...this.map].map(([k, v]): [Buffer, Buffer] => [Buffer.from(k, "hex"), v]).sort(([a], [c]) => Buffer.compare(a, c));
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
/** Few short keys over few byte values, so operations collide. */
const modelKey = fc.uint8Array({ maxLength: 2, min: 0, max: 2 });
const modelValue = fc.uint8Array({ maxLength: 3, min: 0, max: 2 });
const modelCas = fc.record({ key: modelKey, expect: fc.option(modelValue, { nil: null }), value: modelValue });
const modelOp: fc.Arbitrary<WriteOp> = fc.oneof(
  fc.record({ type: fc.constantFrom("put" as const, "getAndPut" as const, "putIfAbsent" as const, "merge" as const), key: modelKey, value: modelValue }),
  fc.record({ type: fc.constant("putAll" as const), entries: fc.array(fc.record({ key: modelKey, value: modelValue }), { maxLength: 3 }) }),
  modelCas.map((e): WriteOp => ({ type: "compareAndPut", ...e })),
  fc.record({ type: fc.constant("compareAndPutAll" as const), entries: fc.array(modelCas, { maxLength: 3 }) }),
  fc.record({ type: fc.constant("delete" as const), key: modelKey }),
  fc.record({ type: fc.constant("deleteAll" as const), keys: fc.array(modelKey, { maxLength: 3 }) }),
  fc.tuple(modelKey, modelKey).map(([x, y]): WriteOp => (Buffer.compare(x, y) <= 0 ? { type: "deleteRange", start: x, end: y } : { type: "deleteRange", start: y, end: x })),
);
const modelScan = fc.record({ start: modelKey, end: fc.option(modelKey, { nil: null }), limit: fc.integer({ min: 1, max: 6 }), reverse: fc.boolean() });

/** Comparable results: bytes as hex. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return hex(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

test("model check: random write sequences give the results and scans of a naive sorted Map", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(modelOp, modelScan), { minLength: 1, maxLength: 40 }), (steps) => {
      const store = new KvStore();
      const model = new ModelStore();
      for (const [op, s] of steps) {
        assert.deepEqual(plain(store.applyWrite(op, T0).result), plain(model.apply(op)), `after ${op.type}`);
        if (s.end !== null && Buffer.compare(s.start, s.end) > 0) continue;
        const got = store.read({ type: "scan", ...s, keysOnly: false });
        assert.deepEqual(plain(got.type === "entries" ? got.entries : got), plain(model.scan(s.start, s.end, s.limit, s.reverse)));
      }
      const everything = store.read({ type: "scan", start: new Uint8Array(0), end: null, limit: 1000, reverse: false, keysOnly: false });
      assert.deepEqual(plain(everything.type === "entries" ? everything.entries : everything), plain(model.scan(new Uint8Array(0), null, 1000, false)));
      assert.equal(store.keyCount, model.map.size);
    }),
    { numRuns: 300 },
  );
});

test("compareKeys orders keys exactly as Buffer.compare: unsigned bytes, then length", () => {
  const bytesOf = fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a));
  fc.assert(
    fc.property(bytesOf, bytesOf, (a, b) => Math.sign(compareKeys(a, b)) === Buffer.compare(a, b)),
    { numRuns: 2000 },
  );
  assert.ok(compareKeys(Buffer.from([0xff]), Buffer.from([0x01, 0x00])) > 0, "bytes are unsigned");
  assert.ok(compareKeys(Buffer.from("ab"), Buffer.from("abc")) < 0, "a prefix sorts first");
});
