/** The simulator's event queue, network and partition shapes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Message } from "../src/core/messages.js";
import { SeededRandom } from "../src/core/random.js";
import { EventQueue } from "../src/sim/event-queue.js";
import { CALM_NETWORK, Network, type DropReason, type NetworkParams } from "../src/sim/network.js";
import { bridge, halves, isolate, majoritiesRing, oneWay, type Partition } from "../src/sim/partitions.js";

function heartbeat(from: string, to: string, readSeq = 0): Message {
  return { type: "heartbeat", from, to, term: 1, commit: 0, readSeq, sentTick: 0, quiesce: false };
}

interface Harness {
  queue: EventQueue;
  network: Network<number>;
  delivered: { message: Message; atMs: number; payload: number }[];
  dropped: { message: Message; reason: DropReason }[];
}

function harness(params: Partial<NetworkParams> = {}, seed = 1): Harness {
  const queue = new EventQueue();
  const delivered: Harness["delivered"] = [];
  const dropped: Harness["dropped"] = [];
  const network = new Network<number>(
    new SeededRandom(seed),
    queue,
    {
      deliver: (message, payload) => delivered.push({ message, atMs: queue.nowMs, payload }),
      drop: (message, _payload, reason) => dropped.push({ message, reason }),
    },
    { ...CALM_NETWORK, ...params },
  );
  return { queue, network, delivered, dropped };
}

test("event queue: events run in time order, ties in insertion order, and the clock only moves forward", () => {
  const queue = new EventQueue();
  const order: string[] = [];
  queue.after(5, () => order.push("b@5"));
  queue.after(1, () => order.push("a@1"));
  queue.after(5, () => order.push("c@5"));
  queue.after(0, () => queue.after(5, () => order.push("d@5")));
  queue.runUntil(100);
  assert.deepEqual(order, ["a@1", "b@5", "c@5", "d@5"]);
  assert.equal(queue.nowMs, 100);
  assert.equal(queue.steps, 5);
  assert.throws(() => queue.after(-1, () => {}), RangeError);
});

test("network: a calm network delivers every message within its delay bounds", () => {
  const h = harness({ minDelayMs: 2, maxDelayMs: 7 });
  for (let i = 0; i < 200; i++) h.network.send(heartbeat("a", "b", i), i);
  h.queue.runUntil(1000);
  assert.equal(h.delivered.length, 200);
  assert.equal(h.dropped.length, 0);
  for (const d of h.delivered) assert.ok(d.atMs >= 2 && d.atMs <= 7, `delivered at ${d.atMs}`);
});

test("network: without FIFO random delays reorder messages; with FIFO a link keeps its order", () => {
  const reordering = harness({ minDelayMs: 1, maxDelayMs: 20, fifo: false });
  const fifo = harness({ minDelayMs: 1, maxDelayMs: 20, fifo: true });
  for (const h of [reordering, fifo]) {
    for (let i = 0; i < 100; i++) {
      h.network.send(heartbeat("a", "b", i), i);
      h.queue.runUntil(h.queue.nowMs + 1);
    }
    h.queue.runUntil(10_000);
    assert.equal(h.delivered.length, 100);
  }
  const order = (h: Harness): number[] => h.delivered.map((d) => d.payload);
  assert.notDeepEqual(order(reordering), [...order(reordering)].sort((a, b) => a - b), "random delays should reorder");
  assert.deepEqual(order(fifo), [...order(fifo)].sort((a, b) => a - b));
});

test("network: loss drops about the configured share of messages, reported as loss", () => {
  const h = harness({ lossRate: 0.3 });
  for (let i = 0; i < 2000; i++) h.network.send(heartbeat("a", "b"), i);
  h.queue.runUntil(1000);
  assert.equal(h.delivered.length + h.dropped.length, 2000);
  assert.ok(h.dropped.length > 480 && h.dropped.length < 720, `lost ${h.dropped.length} of 2000`);
  assert.ok(h.dropped.every((d) => d.reason === "loss"));
  const all = harness({ lossRate: 1 });
  all.network.send(heartbeat("a", "b"), 0);
  all.queue.runUntil(100);
  assert.equal(all.delivered.length, 0);
});

test("network: duplication delivers a message twice", () => {
  const h = harness({ duplicateRate: 1 });
  h.network.send(heartbeat("a", "b"), 7);
  h.queue.runUntil(100);
  assert.deepEqual(h.delivered.map((d) => d.payload), [7, 7]);
  assert.equal(h.network.stats.duplicated, 1);
});

test("network: a partition drops messages across the cut, also those already in flight; heal restores delivery", () => {
  const h = harness({ minDelayMs: 10, maxDelayMs: 10 });
  h.network.send(heartbeat("a", "c"), 1); // in flight when the cut happens
  h.queue.runUntil(5);
  h.network.cut(isolate(["a", "b", "c"], "a").cut);
  h.network.send(heartbeat("a", "b"), 2); // cut at send time
  h.network.send(heartbeat("b", "c"), 3); // same side: delivered
  h.queue.runUntil(50);
  assert.deepEqual(h.delivered.map((d) => d.payload), [3]);
  assert.deepEqual(h.dropped.map((d) => [d.message.to, d.reason]), [["b", "partition"], ["c", "partition"]]);
  h.network.heal();
  h.network.send(heartbeat("a", "b"), 4);
  h.queue.runUntil(100);
  assert.deepEqual(h.delivered.map((d) => d.payload), [3, 4]);
});

/** Who each node can send to under a partition (itself included). */
function reach(ids: readonly string[], partition: Partition): Map<string, Set<string>> {
  const cut = new Set(partition.cut.map(([a, b]) => `${a}>${b}`));
  const out = new Map<string, Set<string>>();
  for (const a of ids) out.set(a, new Set(ids.filter((b) => a === b || !cut.has(`${a}>${b}`))));
  return out;
}

const FIVE = ["n1", "n2", "n3", "n4", "n5"];
const SEVEN = ["n1", "n2", "n3", "n4", "n5", "n6", "n7"];

test("partitions: random halves split into two non-empty sides that cannot talk", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const p = halves(FIVE, new SeededRandom(seed));
    const r = reach(FIVE, p);
    const sides = new Set([...r.values()].map((s) => [...s].sort().join(",")));
    assert.equal(sides.size, 2, p.description);
    for (const [a, seen] of r) for (const b of seen) assert.ok(r.get(b)!.has(a), "halves are symmetric");
  }
});

test("partitions: an isolated node reaches nobody and nobody reaches it", () => {
  const r = reach(FIVE, isolate(FIVE, "n3"));
  assert.deepEqual([...r.get("n3")!], ["n3"]);
  for (const id of FIVE) if (id !== "n3") assert.ok(!r.get(id)!.has("n3"));
});

test("partitions: in the majorities ring each node sees a majority, and no two see the same one", () => {
  for (const ids of [FIVE, SEVEN]) {
    const r = reach(ids, majoritiesRing(ids, new SeededRandom(3)));
    const majority = Math.floor(ids.length / 2) + 1;
    for (const seen of r.values()) assert.ok(seen.size >= majority && seen.size < ids.length, `sees ${seen.size}`);
    const views = new Set([...r.values()].map((s) => [...s].sort().join(",")));
    assert.equal(views.size, ids.length);
  }
});

test("partitions: a bridge node sees both sides, which cannot see each other", () => {
  const p = bridge(FIVE, new SeededRandom(9));
  const r = reach(FIVE, p);
  const middle = FIVE.find((id) => r.get(id)!.size === FIVE.length)!;
  assert.ok(middle, p.description);
  const others = FIVE.filter((id) => id !== middle);
  assert.ok(others.every((id) => r.get(id)!.size < FIVE.length && r.get(id)!.has(middle)));
  assert.ok(others.some((a) => others.some((b) => !r.get(a)!.has(b))), "the two sides are cut");
});

test("partitions: a one-way cut is asymmetric", () => {
  for (let seed = 1; seed <= 6; seed++) {
    const r = reach(FIVE, oneWay(FIVE, "n1", new SeededRandom(seed)));
    const sends = r.get("n1")!.size > 1;
    const hears = FIVE.some((id) => id !== "n1" && r.get(id)!.has("n1"));
    assert.notEqual(sends, hears);
  }
});
