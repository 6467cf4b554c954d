/** WatchHistory: events in log order by key or prefix, answers cut only between indexes, bounds, ECOMPACTED, and waiting. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftError } from "../src/errors.js";
import type { WatchResult } from "../src/kv/commands.js";
import type { KvChangeEvent } from "../src/kv/kv-store.js";
import { WatchHistory } from "../src/kv/watch-history.js";

const b = (text: string): Buffer => Buffer.from(text, "utf8");
/** Keys and values in these tests are ASCII: as the store keeps them (latin1 strings) they are the same text. */
const put = (key: string, value = "v"): KvChangeEvent => ({ type: "put", keyName: key, value });
const del = (key: string): KvChangeEvent => ({ type: "delete", keyName: key, value: null });

/** "index:type:key" per event, and nextIndex. */
function summary(result: WatchResult): { events: string[]; nextIndex: number } | string {
  if (result.type === "error") return `${result.code}: ${result.message}`;
  return { events: result.events.map((e) => `${e.index}:${e.type}:${Buffer.from(e.key).toString()}`), nextIndex: result.nextIndex };
}

test("events since an index, for one key or a prefix, in log order", () => {
  const history = new WatchHistory(0);
  history.append(1, [put("a"), put("ab")]);
  history.append(2, []);
  history.append(3, [del("a"), put("b")]);
  assert.deepEqual(summary(history.eventsSince(1, b("a"), false, 100)), { events: ["1:put:a", "3:delete:a"], nextIndex: 4 });
  assert.deepEqual(summary(history.eventsSince(1, b("a"), true, 100)), { events: ["1:put:a", "1:put:ab", "3:delete:a"], nextIndex: 4 });
  assert.deepEqual(summary(history.eventsSince(2, b(""), true, 100)), { events: ["3:delete:a", "3:put:b"], nextIndex: 4 });
  assert.deepEqual(summary(history.eventsSince(0, b("zz"), false, 100)), { events: [], nextIndex: 4 }, "from 0 on a history complete from 1");
  assert.deepEqual(summary(history.eventsSince(9, b("a"), true, 100)), { events: [], nextIndex: 9 }, "a future index: nothing yet, ask there again");
  const withValues = history.eventsSince(1, b("a"), false, 100);
  assert.deepEqual(withValues.type === "events" && withValues.events.map((e) => (e.value === null ? null : Buffer.from(e.value).toString())), ["v", null], "a put carries its value, a delete null");
});

test("an answer ends after maxEvents at an index boundary, never inside one index's events", () => {
  const history = new WatchHistory(10);
  history.append(11, [put("k1"), put("k2"), put("k3")]);
  history.append(12, [put("k4")]);
  history.append(13, [put("other")]);
  history.append(14, [put("k5")]);
  assert.deepEqual(summary(history.eventsSince(11, b("k"), true, 2)), { events: ["11:put:k1", "11:put:k2", "11:put:k3"], nextIndex: 12 });
  assert.deepEqual(summary(history.eventsSince(12, b("k"), true, 1)), { events: ["12:put:k4"], nextIndex: 13 });
  assert.deepEqual(summary(history.eventsSince(13, b("k"), true, 1)), { events: ["14:put:k5"], nextIndex: 15 });
  assert.deepEqual(summary(history.eventsSince(11, b("k"), true, 4)), { events: ["11:put:k1", "11:put:k2", "11:put:k3", "12:put:k4"], nextIndex: 13 });
});

test("past maxEvents the oldest index goes whole; asking before what is kept is ECOMPACTED naming the oldest index", () => {
  const history = new WatchHistory(0, { maxEvents: 3 });
  history.append(1, [put("a")]);
  history.append(2, [put("b"), put("c")]);
  history.append(3, [put("d")]);
  assert.equal(history.oldestIndex, 2);
  assert.equal(history.eventCount, 3);
  const old = summary(history.eventsSince(1, b(""), true, 10));
  assert.match(String(old), /^ECOMPACTED: the watch history no longer holds index 1: the oldest index kept is 2 .*watch from index 2 or later$/);
  assert.deepEqual(summary(history.eventsSince(2, b(""), true, 10)), { events: ["2:put:b", "2:put:c", "3:put:d"], nextIndex: 4 });
  history.append(4, [put("e"), put("f"), put("g"), put("h")]);
  assert.equal(history.eventCount, 0, "an index above the bound alone is not kept");
  assert.equal(history.oldestIndex, 5);
  assert.match(String(summary(history.eventsSince(4, b(""), true, 10))), /ECOMPACTED.*oldest index kept is 5/);
  history.append(5, []);
  assert.deepEqual(summary(history.eventsSince(5, b(""), true, 10)), { events: [], nextIndex: 6 });
});

test("past maxBytes the oldest indexes go too", () => {
  const history = new WatchHistory(0, { maxBytes: 3 * (64 + 1 + 100) });
  for (let index = 1; index <= 5; index++) history.append(index, [put(String(index), "x".repeat(100))]);
  assert.equal(history.eventCount, 3);
  assert.equal(history.oldestIndex, 3);
  assert.deepEqual(summary(history.eventsSince(3, b(""), true, 10)), { events: ["3:put:3", "4:put:4", "5:put:5"], nextIndex: 6 });
});

test("a long run through a small ring keeps exactly the newest indexes", () => {
  const history = new WatchHistory(0, { maxEvents: 100 });
  for (let index = 1; index <= 5000; index++) history.append(index, [put(`k${index % 7}`)]);
  assert.equal(history.eventCount, 100);
  assert.equal(history.oldestIndex, 4901);
  const all = history.eventsSince(4901, b("k"), true, 1000);
  assert.equal(all.type === "events" && all.events.length, 100);
  assert.equal(all.type === "events" && all.events[0]!.index, 4901);
  const some = history.eventsSince(4990, b("k0"), false, 1000);
  assert.deepEqual(some.type === "events" && some.events.map((e) => e.index), [4991, 4998]);
});

test("after reset (a snapshot load) the history starts at the applied index", () => {
  const history = new WatchHistory(0);
  history.append(1, [put("a")]);
  history.reset(50);
  assert.equal(history.appliedIndex, 50);
  assert.match(String(summary(history.eventsSince(1, b("a"), false, 10))), /ECOMPACTED.*oldest index kept is 51/);
  assert.deepEqual(summary(history.eventsSince(51, b("a"), false, 10)), { events: [], nextIndex: 51 });
  assert.throws(() => history.append(50, []), /index 50 is not after the last one, 50/);
});

test("waitForIndex resolves when the index is appended, at once when it was, false on abort", async () => {
  const history = new WatchHistory(5);
  assert.equal(await history.waitForIndex(5), true);
  const order: string[] = [];
  const seven = history.waitForIndex(7).then((reached) => order.push(`7:${reached}`));
  const six = history.waitForIndex(6).then((reached) => order.push(`6:${reached}`));
  const controller = new AbortController();
  const aborted = history.waitForIndex(8, controller.signal);
  assert.equal(history.waiting, 3);
  history.append(6, []);
  await six;
  assert.deepEqual(order, ["6:true"]);
  controller.abort();
  assert.equal(await aborted, false);
  assert.equal(history.waiting, 1);
  history.append(7, [put("x")]);
  await seven;
  assert.deepEqual(order, ["6:true", "7:true"]);
  assert.equal(history.waiting, 0);
  assert.equal(await history.waitForIndex(99, AbortSignal.abort()), false, "an aborted signal waits for nothing");
});

test("waiters are bounded (EBUSY), woken by reset, and released by cancelWaiters", async () => {
  const history = new WatchHistory(0, { maxWaiters: 2 });
  const first = history.waitForIndex(10);
  const second = history.waitForIndex(20);
  await assert.rejects(history.waitForIndex(30), (e: unknown) => e instanceof RaftError && e.code === "EBUSY" && /2 watchers are already waiting \(maxWaiters 2\)/.test(e.message));
  history.reset(15);
  assert.equal(await first, true, "a reset wakes waiters to ask again");
  assert.equal(await second, true);
  const third = history.waitForIndex(40);
  history.cancelWaiters();
  assert.equal(await third, false);
  assert.equal(history.waiting, 0);
});

test("options are checked", () => {
  assert.throws(() => new WatchHistory(0, { maxEvents: 0 }), /maxEvents must be an integer from 1 to 1000000, got 0/);
  assert.throws(() => new WatchHistory(0, { maxEvents: 2_000_000 }), /maxEvents must be an integer from 1 to 1000000/);
});
