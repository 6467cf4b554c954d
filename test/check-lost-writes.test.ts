/**
 * lostAcknowledgedWrites: which acknowledged writes a final read contradicts,
 * on hand-written histories whose answer can be argued by eye. The property
 * that it never raises a false alarm is in check-properties.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { countStatuses, lostAcknowledgedWrites, type HistoryOperation } from "../src/check/index.js";
import { history as h } from "./support/check-histories.js";

const lostOf = (ops: HistoryOperation[], finalValue: string | null): HistoryOperation[] =>
  lostAcknowledgedWrites(ops, new Map([["k", finalValue]])).map((lost) => lost.operation);

test("the last acknowledged write is lost when the final read shows an older value", () => {
  const a = h.write(1, 0, 1, "k", "a");
  const b = h.write(1, 2, 3, "k", "b");
  assert.deepEqual(lostOf([a, b], "b"), []);
  assert.deepEqual(lostOf([a, b], "a"), [b], "a returned before b was invoked, so b came last");
  assert.deepEqual(lostOf([a, b], null), [b], "nothing deleted the key");
  assert.deepEqual(lostOf([a, b], "garbage"), [b], "only the latest writes are named, not every earlier one");
  const [lost] = lostAcknowledgedWrites([a, b], new Map([["k", "a"]]));
  assert.deepEqual(lost, { key: "k", operation: b, finalValue: "a" });
});

test("concurrent writes may end in either order", () => {
  const a = h.write(1, 0, 5, "k", "a");
  const b = h.write(2, 1, 4, "k", "b");
  assert.deepEqual(lostOf([a, b], "a"), []);
  assert.deepEqual(lostOf([a, b], "b"), []);
  assert.deepEqual(lostOf([a, b], "c"), [a, b]);
});

test("an unanswered write, delete or compare-and-set may explain the final value; a failed one may not", () => {
  const a = h.write(1, 0, 1, "k", "a");
  const b = h.write(1, 10, 11, "k", "b");
  assert.deepEqual(lostOf([a, h.info(2, 2, { kind: "write", key: "k", value: "x" }), b], "x"), [], "it may have taken effect after b");
  assert.deepEqual(lostOf([a, h.info(2, 2, { kind: "delete", key: "k" }), b], null), []);
  assert.deepEqual(lostOf([a, h.info(2, 2, { kind: "cas", key: "k", expect: "b", value: "x" }), b], "x"), []);
  assert.deepEqual(lostOf([a, h.fail(2, 2, 3, { kind: "write", key: "k", value: "x" }), b], "x"), [b]);
  assert.deepEqual(lostOf([a, b, h.cas(2, 12, 13, "k", "z", "x", false)], "x"), [b], "a compare-and-set that failed wrote nothing");
});

test("an acknowledged delete or compare-and-set is an acknowledged write too", () => {
  const a = h.write(1, 0, 1, "k", "a");
  assert.deepEqual(lostOf([a, h.delete(1, 2, 3, "k")], null), []);
  const deleted = h.delete(1, 2, 3, "k");
  assert.deepEqual(lostOf([a, deleted], "a"), [deleted]);
  const swapped = h.cas(1, 2, 3, "k", "a", "c", true);
  assert.deepEqual(lostOf([a, swapped], "a"), [swapped]);
  assert.deepEqual(lostOf([a, swapped], "c"), []);
});

test("keys without a final read, keys never written, and sequence keys are not judged", () => {
  const ops = [h.write(1, 0, 1, "k", "a"), h.sequence(2, 0, 1, "s", 1, 0), h.read(3, 0, 1, "r", null)];
  assert.deepEqual(lostAcknowledgedWrites(ops, new Map()), []);
  assert.deepEqual(lostAcknowledgedWrites(ops, new Map<string, string | null>([["s", "5"], ["r", "x"]])), []);
  assert.equal(lostAcknowledgedWrites(ops, new Map([["k", null]])).length, 1);
});

test("countStatuses counts answered, failed and unanswered operations", () => {
  const ops = [h.write(1, 0, 1, "k", "a"), h.read(2, 0, 1, "k", "a"), h.fail(3, 0, 1, { kind: "delete", key: "k" }), h.info(4, 0, { kind: "read", key: "k" })];
  assert.deepEqual(countStatuses(ops), { total: 4, ok: 2, fail: 1, info: 1 });
});
