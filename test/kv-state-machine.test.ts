/**
 * KvStateMachine driven through onApply with a fake iterator: results in call
 * order, exactly-once across entries, monotonic store time, malformed entries,
 * watch events at their index; snapshots saved and loaded through a real
 * SnapshotStore (§7) give the same reads, sessions, locks and sequences.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SnapshotMeta } from "../src/core/types.js";
import { RaftError } from "../src/errors.js";
import type { KvEntry, ReadResult, WatchResult, WriteBatch, WriteCall, WriteOp, WriteResult } from "../src/kv/commands.js";
import { ProposedWriteBatch, encodeWriteBatch } from "../src/kv/kv-codec.js";
import { KV_SNAPSHOT_FILE } from "../src/kv/kv-snapshot.js";
import { KvStateMachine } from "../src/kv/kv-state-machine.js";
import type { ApplyIterator } from "../src/node/state-machine.js";
import { SnapshotStore } from "../src/storage/snapshot-store.js";

const b = (text: string): Buffer => Buffer.from(text, "utf8");
const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : Buffer.from(bytes).toString("utf8"));

interface FakeEntry {
  readonly index: number;
  readonly data: Uint8Array;
  readonly done: ((result?: unknown) => void) | null;
  readonly context?: unknown;
}

/** The node's iterator, reduced to what the state machine uses. */
class FakeIterator implements ApplyIterator {
  private position = 0;
  constructor(private readonly entries: readonly FakeEntry[]) {}
  hasNext(): boolean {
    return this.position < this.entries.length;
  }
  next(): void {
    this.position++;
  }
  get data(): Uint8Array {
    return this.entries[this.position]!.data;
  }
  get index(): number {
    return this.entries[this.position]!.index;
  }
  get term(): number {
    return 1;
  }
  get done(): ((result?: unknown) => void) | null {
    return this.entries[this.position]!.done;
  }
  get context(): unknown {
    return this.entries[this.position]!.context;
  }
  setErrorAndRollback(): void {
    assert.fail("the KV state machine never rolls back");
  }
}

/** Applies one entry per payload from `firstIndex`, as the leader (done set); returns what each done() got. */
function applyEntries(sm: KvStateMachine, firstIndex: number, payloads: readonly (WriteBatch | Uint8Array)[]): unknown[] {
  const outcomes: unknown[] = [];
  const entries = payloads.map((payload, i): FakeEntry => ({
    index: firstIndex + i,
    data: payload instanceof Uint8Array ? payload : encodeWriteBatch(payload),
    done: (result) => void (outcomes[i] = result),
  }));
  sm.onApply(new FakeIterator(entries));
  return outcomes;
}

let nextSeq = 1;
function call(op: WriteOp, clientId = "client", seq = nextSeq++, firstUnackedSeq = 1): WriteCall {
  return { kind: "write", clientId, seq, firstUnackedSeq, op };
}
const batch = (timeMs: number, ...calls: WriteCall[]): WriteBatch => ({ timeMs, calls });
const put = (key: string, value: string): WriteOp => ({ type: "put", key: b(key), value: b(value) });

function everything(sm: KvStateMachine): string[] {
  const result = sm.read({ type: "scan", start: new Uint8Array(0), end: null, limit: 100_000, reverse: false, keysOnly: false });
  assert.equal(result.type, "entries");
  return result.type === "entries" ? result.entries.map((e: KvEntry) => `${text(e.key)}=${text(e.value)}`) : [];
}

function events(result: WatchResult): string[] {
  assert.equal(result.type, "events", JSON.stringify(result));
  return result.type === "events" ? result.events.map((e) => `${e.index}:${e.type}:${text(e.key)}${e.value === null ? "" : `=${text(e.value)}`}`) : [];
}

const watchAll = { key: new Uint8Array(0), prefix: true, maxEvents: 1000, waitMs: 0 };

test("each entry's calls apply in order; the leader's done() gets their results in call order", () => {
  const sm = new KvStateMachine();
  const [first, second] = applyEntries(sm, 1, [
    batch(1000, call(put("a", "1")), call({ type: "getAndPut", key: b("a"), value: b("2") }), call({ type: "getSequence", key: b("s"), step: 3 })),
    batch(1001, call({ type: "delete", key: b("a") }), call({ type: "lockAcquire", key: b("L"), owner: "me", leaseMs: 50 })),
  ]);
  assert.deepEqual(first, [{ type: "ok" }, { type: "value", value: b("1") }, { type: "sequence", start: 0, end: 3 }]);
  assert.deepEqual(second, [{ type: "bool", value: true }, { type: "lock", acquired: true, owner: "me", token: 1, expiresAtMs: 1051 }]);
  assert.equal(sm.appliedIndex, 2);
  assert.deepEqual(events(sm.watch({ ...watchAll, fromIndex: 1 })), ["1:put:a=1", "1:put:a=2", "2:delete:a"]);
  const stats = sm.stats();
  assert.deepEqual([stats.keys, stats.sequences, stats.locks, stats.sessions, stats.storeTimeMs, stats.lastFencingToken], [0, 1, 1, 1, 1001, 1]);
});

test("the proposing leader applies its batch as proposed (the task's context), with the results and state of a replica that decodes", () => {
  const batches = [
    batch(1000, call(put("a", "1"), "c1", 1, 1), call({ type: "getSequence", key: b("s"), step: 2 }, "c2", 1, 1)),
    batch(1001, call({ type: "compareAndPut", key: b("a"), expect: b("1"), value: b("2") }, "c1", 2, 2), call({ type: "lockAcquire", key: b("L"), owner: "o", leaseMs: 9 }, "c2", 2, 1)),
  ];
  const leader = new KvStateMachine();
  const follower = new KvStateMachine();
  const leaderResults: unknown[] = [];
  const followerResults: unknown[] = [];
  leader.onApply(new FakeIterator(batches.map((proposed, i) => ({ index: i + 1, data: encodeWriteBatch(proposed), done: (r) => void (leaderResults[i] = r), context: new ProposedWriteBatch(proposed) }))));
  follower.onApply(new FakeIterator(batches.map((proposed, i) => ({ index: i + 1, data: encodeWriteBatch(proposed), done: (r) => void (followerResults[i] = r) }))));
  assert.deepEqual(leaderResults, followerResults);
  assert.deepEqual(everything(leader), ["a=2"]);
  assert.deepEqual(everything(follower), everything(leader));
  assert.deepEqual(leader.stats(), follower.stats());

  // The context is what the leader applies: its bytes are not decoded again.
  const trusting = new KvStateMachine();
  const inBytes = batch(5, call(put("k", "from-bytes"), "c", 1, 1));
  const asProposed = batch(5, call(put("k", "from-context"), "c", 1, 1));
  trusting.onApply(new FakeIterator([{ index: 1, data: encodeWriteBatch(inBytes), done: null, context: new ProposedWriteBatch(asProposed) }]));
  assert.deepEqual(everything(trusting), ["k=from-context"]);
  // Any other context is ignored: only the write batcher's wrapper is trusted.
  const other = new KvStateMachine();
  other.onApply(new FakeIterator([{ index: 1, data: encodeWriteBatch(inBytes), done: null, context: asProposed }]));
  assert.deepEqual(everything(other), ["k=from-bytes"]);
});

test("watch matches and returns binary keys byte for byte (bytes above 0x7f, zeros, a prefix that is a whole key)", () => {
  const sm = new KvStateMachine();
  const key = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
  const putBytes = (k: Uint8Array): WriteOp => ({ type: "put", key: k, value: b("v") });
  applyEntries(sm, 1, [
    batch(1, call(putBytes(key(0xff, 0x00))), call(putBytes(key(0xff))), call(putBytes(key(0xfe, 0xff))), call(putBytes(key(0xc3, 0xa9)))),
    batch(2, call({ type: "deleteRange", start: key(0xff), end: key(0xff, 0x01) })),
  ]);
  const watched = (k: Uint8Array, prefix: boolean): string[] => {
    const result = sm.watch({ ...watchAll, key: k, prefix, fromIndex: 1 });
    assert.equal(result.type, "events");
    return result.type === "events" ? result.events.map((e) => `${e.index}:${e.type}:${Buffer.from(e.key).toString("hex")}`) : [];
  };
  assert.deepEqual(watched(key(0xff), true), ["1:put:ff00", "1:put:ff", "2:delete:ff", "2:delete:ff00"]);
  assert.deepEqual(watched(key(0xff), false), ["1:put:ff", "2:delete:ff"]);
  assert.deepEqual(watched(key(0xc3), true), ["1:put:c3a9"], "bytes, not UTF-8 characters");
  assert.deepEqual(watched(key(0xfe), true), ["1:put:feff"]);
});

test("a write retried in a later entry (a new leader proposed it again) is applied once", () => {
  const sm = new KvStateMachine();
  const merge = call({ type: "merge", key: b("log"), value: b("x") }, "c", 1, 1);
  const [first, retried, next] = applyEntries(sm, 1, [batch(10, merge), batch(11, merge), batch(12, call({ type: "merge", key: b("log"), value: b("y") }, "c", 2, 2))]);
  assert.deepEqual(first, [{ type: "ok" }]);
  assert.deepEqual(retried, [{ type: "ok" }]);
  assert.deepEqual(next, [{ type: "ok" }]);
  assert.deepEqual(everything(sm), ["log=xy"]);
  assert.deepEqual(events(sm.watch({ ...watchAll, fromIndex: 1 })), ["1:put:log=x", "3:put:log=xy"], "the retry changed nothing");
  assert.deepEqual(sm.session("c")?.results.map(([seq]) => seq), [2], "seq 1 was acknowledged by seq 2's call");
  const [late] = applyEntries(sm, 4, [batch(13, merge)]) as WriteResult[][];
  const lateResult = late![0]!;
  assert.equal(lateResult.type === "error" && lateResult.code, "ECOMPACTED", "seq 1's result is forgotten: the late copy is not applied");
  assert.deepEqual(everything(sm), ["log=xy"]);
});

test("store time never goes back: a batch from a leader with a slower clock does not revive an expired lease", () => {
  const sm = new KvStateMachine();
  const acquire = (owner: string): WriteCall => call({ type: "lockAcquire", key: b("L"), owner, leaseMs: 100 });
  const [a, b1, b2] = applyEntries(sm, 1, [batch(1000, acquire("alice")), batch(1200, acquire("bob")), batch(900, acquire("alice"))]);
  assert.deepEqual(a, [{ type: "lock", acquired: true, owner: "alice", token: 1, expiresAtMs: 1100 }]);
  assert.deepEqual(b1, [{ type: "lock", acquired: true, owner: "bob", token: 2, expiresAtMs: 1300 }]);
  assert.deepEqual(b2, [{ type: "lock", acquired: false, owner: "bob", token: 2, expiresAtMs: 1300 }], "at store time 1200, not 900");
  assert.equal(sm.stats().storeTimeMs, 1200);
});

test("a malformed entry fails its proposer, changes nothing, and every replica skips it alike", () => {
  const leader = new KvStateMachine();
  const follower = new KvStateMachine();
  const good = encodeWriteBatch(batch(5, call(put("k", "v"), "x", 1)));
  const truncated = good.subarray(0, good.length - 2);
  const badKey = encodeWriteBatch(batch(6, call(put("k".repeat(20_000), "v"), "x", 2)));
  const payloads = [good, truncated, new Uint8Array(0), badKey, encodeWriteBatch(batch(7, call(put("k2", "v2"), "x", 3)))];
  const outcomes = applyEntries(leader, 1, payloads);
  follower.onApply(new FakeIterator(payloads.map((data, i) => ({ index: 1 + i, data, done: null }))));
  for (const at of [1, 2, 3]) {
    assert.ok(outcomes[at] instanceof RaftError, `entry ${at + 1}`);
    assert.equal((outcomes[at] as RaftError).code, "ECORRUPT");
  }
  assert.match((outcomes[3] as RaftError).message, /call 0: put: key of 20000 bytes is above MAX_KEY_BYTES/);
  assert.deepEqual(everything(leader), ["k=v", "k2=v2"]);
  assert.deepEqual(everything(follower), everything(leader));
  assert.deepEqual(follower.session("x"), leader.session("x"));
  assert.equal(leader.appliedIndex, 5);
  assert.deepEqual(events(leader.watch({ ...watchAll, fromIndex: 1 })), ["1:put:k=v", "5:put:k2=v2"]);
});

test("an entry in a newer format stops the replica (ERROR state) rather than guess", () => {
  const sm = new KvStateMachine();
  const newer = Buffer.from(encodeWriteBatch(batch(1, call(put("k", "v")))));
  newer[0] = 2;
  assert.throws(
    () => applyEntries(sm, 1, [newer]),
    (e: unknown) => e instanceof RaftError && e.code === "ESTATEMACHINE" && /index 1 is a KV write batch in format version 2, newer than this replica reads \(1\); upgrade it/.test(e.message),
  );
  assert.equal(sm.appliedIndex, 0);
  assert.deepEqual(everything(sm), []);
});

test("watchLongPoll waits for a matching event, skips entries without one, and returns empty when aborted", async () => {
  const sm = new KvStateMachine();
  applyEntries(sm, 1, [batch(1, call(put("other", "1")))]);
  const controller = new AbortController();
  const polling = sm.watchLongPoll({ key: b("watched"), prefix: false, fromIndex: 2, maxEvents: 10, waitMs: 1000 }, controller.signal);
  applyEntries(sm, 2, [batch(2, call(put("other", "2")))]);
  await new Promise((resolve) => setImmediate(resolve));
  applyEntries(sm, 3, [batch(3, call(put("watched", "yes")))]);
  assert.deepEqual(events(await polling), ["3:put:watched=yes"]);

  const quiet = new AbortController();
  const waiting = sm.watchLongPoll({ key: b("watched"), prefix: false, fromIndex: 4, maxEvents: 10, waitMs: 1000 }, quiet.signal);
  assert.equal(sm.stats().watchWaiters, 1);
  quiet.abort();
  assert.deepEqual(await waiting, { type: "events", events: [], nextIndex: 4 });
  assert.equal(sm.stats().watchWaiters, 0);
  controller.abort();
});

test("watchLongPoll answers EBUSY as an error result when too many watchers wait", async () => {
  const sm = new KvStateMachine({ watchHistory: { maxWaiters: 1 } });
  const controller = new AbortController();
  const first = sm.watchLongPoll({ key: b("k"), prefix: false, fromIndex: 1, maxEvents: 1, waitMs: 1000 }, controller.signal);
  const second = await sm.watchLongPoll({ key: b("k"), prefix: false, fromIndex: 1, maxEvents: 1, waitMs: 1000 }, controller.signal);
  assert.equal(second.type === "error" && second.code, "EBUSY");
  assert.match(second.type === "error" ? second.message : "", /^1 watchers are already waiting/);
  sm.onShutdown();
  assert.deepEqual(await first, { type: "events", events: [], nextIndex: 1 }, "shutdown releases the waiter");
});

// --- snapshots ---

async function withSnapshotStore(body: (store: SnapshotStore) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "tsraft-kv-snap-"));
  try {
    await body(await SnapshotStore.open(root));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const metaAt = (index: number): SnapshotMeta => ({ index, term: 3, conf: { voters: ["a", "b", "c"], outgoing: [], learners: [] } });

async function saveSnapshot(sm: KvStateMachine, store: SnapshotStore, index: number): Promise<string> {
  const writer = await store.beginSnapshot(metaAt(index));
  await sm.onSnapshotSave(writer);
  return (await writer.publish()).dir;
}

async function loadSnapshot(sm: KvStateMachine, store: SnapshotStore, index: number): Promise<boolean> {
  const reader = await store.openReader(index);
  try {
    return await sm.onSnapshotLoad(reader);
  } finally {
    await reader.close();
  }
}

/** A state with data over several frames, sequences, live and expired locks, and sessions with remembered results. */
function buildState(sm: KvStateMachine): number {
  const payloads: WriteBatch[] = [];
  for (let chunk = 0; chunk < 4; chunk++) {
    const entries = Array.from({ length: 1000 }, (_, i) => ({ key: b(`key-${chunk}-${String(i).padStart(4, "0")}`), value: Buffer.alloc(700, chunk + i) }));
    payloads.push(batch(1000 + chunk, call({ type: "putAll", entries }, "loader", chunk + 1, chunk + 1)));
  }
  payloads.push(
    batch(
      2000,
      call({ type: "put", key: b("huge"), value: Buffer.alloc(1024 * 1024, 7) }, "w", 1, 1),
      call({ type: "getSequence", key: b("orders"), step: 42 }, "w", 2, 1),
      call({ type: "lockAcquire", key: b("live"), owner: "alice", leaseMs: 60_000 }, "w", 3, 1),
      call({ type: "lockAcquire", key: b("expired"), owner: "bob", leaseMs: 10 }, "w", 4, 1),
      call({ type: "getAndPut", key: b("huge"), value: b("small") }, "w", 5, 1),
    ),
  );
  applyEntries(sm, 1, payloads);
  return payloads.length;
}

test("a snapshot saved and loaded into a fresh instance gives identical reads, sessions, locks, sequences and time", () =>
  withSnapshotStore(async (store) => {
    const original = new KvStateMachine();
    const lastIndex = buildState(original);
    const dir = await saveSnapshot(original, store, lastIndex);
    assert.ok((await readFile(join(dir, KV_SNAPSHOT_FILE))).length > 3 * 1024 * 1024, "several frames of 1 MiB");

    const restored = new KvStateMachine();
    assert.equal(await loadSnapshot(restored, store, lastIndex), true);
    assert.equal(restored.appliedIndex, lastIndex);
    assert.deepEqual(everything(restored), everything(original));
    assert.deepEqual(restored.session("w"), original.session("w"));
    assert.deepEqual(restored.session("loader"), original.session("loader"));
    const { watchEvents: _a, watchOldestIndex: _b, ...originalStats } = original.stats();
    const { watchEvents: _c, watchOldestIndex: _d, ...restoredStats } = restored.stats();
    assert.deepEqual(restoredStats, originalStats);

    // The same next writes give the same results on both: locks, fencing, sequences, sessions carry over.
    const next = [
      batch(2020, call({ type: "lockAcquire", key: b("live"), owner: "carol", leaseMs: 5 }, "n", 1, 1)),
      batch(2021, call({ type: "lockAcquire", key: b("expired"), owner: "carol", leaseMs: 5 }, "n", 2, 1)),
      batch(2022, call({ type: "getSequence", key: b("orders"), step: 1 }, "n", 3, 1)),
      batch(2023, call({ type: "getAndPut", key: b("huge"), value: b("again") }, "w", 5, 1)),
    ];
    const fromOriginal = applyEntries(original, lastIndex + 1, next);
    const fromRestored = applyEntries(restored, lastIndex + 1, next);
    assert.deepEqual(fromRestored, fromOriginal);
    assert.deepEqual(fromRestored[0], [{ type: "lock", acquired: false, owner: "alice", token: 1, expiresAtMs: 62_000 }]);
    assert.deepEqual(fromRestored[1], [{ type: "lock", acquired: true, owner: "carol", token: 3, expiresAtMs: 2026 }], "the fencing counter continues");
    assert.deepEqual(fromRestored[2], [{ type: "sequence", start: 42, end: 43 }]);
    const retried = (fromRestored[3] as ReadonlyArray<WriteResult>)[0]!;
    assert.equal(retried.type === "value" && retried.value?.length, 1024 * 1024, "a remembered result survives the snapshot: the retry is not applied");
    assert.equal(text((restored.read({ type: "get", key: b("huge") }) as { value: Uint8Array }).value), "small");

    // The watch history starts over at the snapshot's index.
    const old = restored.watch({ ...watchAll, fromIndex: 1 });
    assert.equal(old.type === "error" && old.code, "ECOMPACTED");
    assert.deepEqual(events(restored.watch({ ...watchAll, fromIndex: lastIndex + 1 })), []);
  }));

test("a snapshot of 100,000 keys saves and loads", () =>
  withSnapshotStore(async (store) => {
    const sm = new KvStateMachine();
    const payloads = Array.from({ length: 10 }, (_, chunk) =>
      batch(1, call({ type: "putAll", entries: Array.from({ length: 10_000 }, (_, i) => ({ key: b(`k${chunk * 10_000 + i}`), value: b(`v${i}`) })) }, "bulk", chunk + 1, chunk + 1)),
    );
    applyEntries(sm, 1, payloads);
    assert.equal(sm.stats().keys, 100_000);
    await saveSnapshot(sm, store, 10);
    const loaded = new KvStateMachine();
    await loadSnapshot(loaded, store, 10);
    assert.equal(loaded.stats().keys, 100_000);
    const probe = (m: KvStateMachine): ReadResult => m.read({ type: "multiGet", keys: [b("k0"), b("k54321"), b("k99999"), b("k100000")] });
    assert.deepEqual(probe(loaded), probe(sm));
    assert.deepEqual(everything(loaded), everything(sm));
  }));

test("a damaged snapshot is refused with ECORRUPT and the state in place is kept", () =>
  withSnapshotStore(async (store) => {
    const original = new KvStateMachine();
    const lastIndex = buildState(original);
    const dir = await saveSnapshot(original, store, lastIndex);
    const path = join(dir, KV_SNAPSHOT_FILE);
    const bytes = await readFile(path);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(path, bytes);

    const target = new KvStateMachine();
    applyEntries(target, 1, [batch(1, call(put("mine", "kept")))]);
    await assert.rejects(loadSnapshot(target, store, lastIndex), (e: unknown) => e instanceof RaftError && e.code === "ECORRUPT" && /checksum does not match/.test(e.message));
    assert.deepEqual(everything(target), ["mine=kept"]);
    assert.equal(target.appliedIndex, 1);
  }));

test("a snapshot without the KV file, or cut short, is refused with ECORRUPT", () =>
  withSnapshotStore(async (store) => {
    const foreign = await store.beginSnapshot(metaAt(1));
    await foreign.addFile("value", new Uint8Array(8));
    await foreign.publish();
    await assert.rejects(loadSnapshot(new KvStateMachine(), store, 1), (e: unknown) => e instanceof RaftError && e.code === "ECORRUPT" && /has no file "kv-state"/.test(e.message));

    const sm = new KvStateMachine();
    applyEntries(sm, 1, [batch(1, call(put("a", "b")))]);
    const writer = await store.beginSnapshot(metaAt(2));
    await sm.onSnapshotSave(writer);
    const full = await readFile(join(writer.dir, KV_SNAPSHOT_FILE));
    await rm(join(writer.dir, KV_SNAPSHOT_FILE));
    await writer.addFile(KV_SNAPSHOT_FILE, full.subarray(0, full.length - 5));
    await writer.publish();
    await assert.rejects(loadSnapshot(new KvStateMachine(), store, 2), (e: unknown) => e instanceof RaftError && e.code === "ECORRUPT" && /ends inside a frame/.test(e.message));
  }));
