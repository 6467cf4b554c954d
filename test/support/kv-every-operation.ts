/**
 * Every KvClient operation with the results it must give, as one scenario
 * that both the in-process servers (kv-server.test.ts) and the `tsraft serve`
 * processes (kv-processes.test.ts) run on an empty store. It returns the data
 * changes it made, in order, as describeEvent() writes a watch's events.
 */
import assert from "node:assert/strict";
import type { WatchEvent } from "../../src/kv/commands.js";
import { toText, type KvClient } from "../../src/kv/index.js";
import { bytes, codeOf } from "./node-cluster.js";

/** A value as UTF-8 text, null kept. */
export const text = (value: Uint8Array | null): string | null => (value === null ? null : toText(value));
const keys = (entries: { key: Uint8Array }[]): string[] => entries.map((e) => toText(e.key));

export function describeEvent(event: WatchEvent): string {
  return `${event.type} ${toText(event.key)}${event.value === null ? "" : ` = ${toText(event.value)}`}`;
}

/** `rival` is a second client of the same cluster, which contends for the locks. */
export async function runEveryOperation(kv: KvClient, rival: KvClient): Promise<string[]> {
  const changes: string[] = [];
  await writesAndReads(kv, changes);
  await scans(kv);
  await deletes(kv, changes);
  await sequences(kv);
  await locks(kv, rival);
  return changes;
}

async function writesAndReads(kv: KvClient, changes: string[]): Promise<void> {
  assert.equal(await kv.get("a"), null);
  await kv.put("a", "1");
  changes.push("put a = 1");
  assert.equal(text(await kv.get("a")), "1");
  assert.equal(text(await kv.get(bytes("a"), { consistency: "lease" })), "1");
  assert.equal(await kv.containsKey("a"), true);
  assert.equal(await kv.containsKey("zz"), false);
  await kv.putAll([
    { key: "b", value: "2" },
    { key: "c", value: "3" },
    { key: "d", value: "4" },
  ]);
  changes.push("put b = 2", "put c = 3", "put d = 4");
  assert.deepEqual((await kv.multiGet(["a", "x", "c"])).map(text), ["1", null, "3"]);
  assert.equal(text(await kv.getAndPut("a", "10")), "1");
  assert.equal(await kv.getAndPut("new", "n"), null);
  changes.push("put a = 10", "put new = n");
  assert.equal(await kv.compareAndPut("a", "wrong", "11"), false);
  assert.equal(await kv.compareAndPut("a", "10", "11"), true);
  assert.equal(await kv.compareAndPut("absent", null, "now"), true);
  assert.equal(await kv.compareAndPut("absent", null, "again"), false);
  changes.push("put a = 11", "put absent = now");
  assert.equal(await kv.compareAndPutAll([{ key: "b", expect: "2", value: "20" }, { key: "c", expect: "wrong", value: "30" }]), false);
  assert.deepEqual((await kv.multiGet(["b", "c"])).map(text), ["2", "3"], "compareAndPutAll writes nothing when one expectation fails");
  assert.equal(await kv.compareAndPutAll([{ key: "b", expect: "2", value: "20" }, { key: "c", expect: "3", value: "30" }]), true);
  changes.push("put b = 20", "put c = 30");
  assert.equal(await kv.putIfAbsent("p", "first"), null);
  assert.equal(text(await kv.putIfAbsent("p", "second")), "first");
  changes.push("put p = first");
  await kv.merge("m", "x");
  await kv.merge("m", "y");
  changes.push("put m = x", "put m = xy");
  assert.equal(text(await kv.get("m")), "xy");
}

async function scans(kv: KvClient): Promise<void> {
  assert.deepEqual(keys(await kv.scan("a", "d")), ["a", "absent", "b", "c"]);
  assert.deepEqual((await kv.scan("a", "c")).map((e) => `${toText(e.key)}=${toText(e.value)}`), ["a=11", "absent=now", "b=20"]);
  assert.deepEqual(keys(await kv.scan("b", null, { limit: 2 })), ["b", "c"]);
  assert.deepEqual(keys(await kv.reverseScan("a", "d")), ["c", "b", "absent", "a"]);
  assert.deepEqual(keys(await kv.reverseScan("", null, { limit: 2 })), ["p", "new"]);
  const keysOnly = await kv.scan("a", "c", { keysOnly: true });
  assert.deepEqual(keys(keysOnly), ["a", "absent", "b"]);
  assert.ok(keysOnly.every((entry) => entry.value.byteLength === 0), "keysOnly: empty values");
  assert.ok((await kv.scan("a", "c", { consistency: "stale" })).length > 0, "a stale scan reads some member's copy");
}

async function deletes(kv: KvClient, changes: string[]): Promise<void> {
  assert.equal(await kv.delete("new"), true);
  assert.equal(await kv.delete("new"), false);
  changes.push("delete new");
  assert.equal(await kv.deleteAll(["b", "c", "nothing"]), 2);
  changes.push("delete b", "delete c");
  assert.equal(await kv.deleteRange("a", "b"), 2, "a and absent");
  changes.push("delete a", "delete absent");
  assert.deepEqual(keys(await kv.scan("", null)), ["d", "m", "p"]);
}

async function sequences(kv: KvClient): Promise<void> {
  assert.deepEqual(await kv.getSequence("seq", 10), { start: 0, end: 10 });
  assert.deepEqual(await kv.getSequence("seq", 5), { start: 10, end: 15 });
  assert.deepEqual(await kv.getSequence("seq", 0), { start: 15, end: 15 });
  assert.equal(await kv.resetSequence("seq"), 15);
  assert.deepEqual(await kv.getSequence("seq", 1), { start: 0, end: 1 });
  assert.equal(await kv.get("seq"), null, "sequences live apart from the data keys");
}

async function locks(kv: KvClient, rivalClient: KvClient): Promise<void> {
  const first = await kv.acquireLock("lock", "alice", 10_000);
  assert.equal(first.acquired, true);
  assert.equal(first.owner, "alice");
  assert.ok(first.token > 0 && first.expiresAtMs > Date.now() - 60_000);
  const taken = await kv.acquireLock("lock", "bob", 10_000);
  assert.deepEqual([taken.acquired, taken.owner, taken.token], [false, "alice", first.token]);
  const renewed = await kv.renewLock("lock", "alice", first.token, 20_000);
  assert.equal(renewed.acquired, true);
  assert.equal(renewed.token, first.token, "a renewal keeps the token");
  assert.ok(renewed.expiresAtMs > first.expiresAtMs);
  assert.equal((await kv.renewLock("lock", "bob", first.token, 20_000)).acquired, false);
  assert.equal(await kv.releaseLock("lock", "bob", first.token), false);
  assert.equal(await kv.releaseLock("lock", "alice", first.token + 1), false, "a wrong token releases nothing");
  assert.equal(await kv.releaseLock("lock", "alice", first.token), true);
  assert.equal(await kv.releaseLock("lock", "alice", first.token), false, "released once");

  const lock = kv.lock("guarded", { leaseMs: 5000 });
  await lock.lock();
  const token = lock.fencingToken;
  assert.ok(token > first.token, "fencing tokens grow with every acquisition");
  const rival = rivalClient.lock("guarded", { leaseMs: 5000 });
  assert.equal(await rival.tryLock(), false);
  assert.equal(rival.lastState!.owner, lock.owner);
  assert.equal(await codeOf(rival.lock(200)), "ETIMEDOUT");
  assert.equal(await lock.unlock(), true);
  assert.equal(await rival.tryLock(), true);
  assert.ok(rival.fencingToken > token);
  assert.equal(await rival.unlock(), true);

  // keepAlive renews the lease: held well past it.
  const kept = kv.lock("kept", { leaseMs: 300, keepAlive: true });
  await kept.lock();
  await new Promise((resolve) => setTimeout(resolve, 900));
  assert.equal(await rivalClient.lock("kept", { leaseMs: 300 }).tryLock(), false);
  assert.equal(await kept.unlock(), true);
}
