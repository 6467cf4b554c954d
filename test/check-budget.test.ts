/**
 * Limits: a history whose search explodes answers "unknown" with the reason,
 * within its time, step or memory budget, instead of hanging; and bad input
 * is refused with an error that names the operation.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftError } from "../src/errors.js";
import { checkKvHistory, type HistoryOperation } from "../src/check/index.js";
import { history as h } from "./support/check-histories.js";

/**
 * 26 overlapping writes, then a read of a value nobody wrote: proving it
 * impossible means trying every subset of the writes, 2^26 of them.
 */
function explosive(key: string): HistoryOperation[] {
  const ops = Array.from({ length: 26 }, (_, i) => h.write(i, 0, 10, key, `w${i}`));
  ops.push(h.read(99, 11, 12, key, "never written"));
  return ops;
}

test("a full memo answers unknown", () => {
  const result = checkKvHistory(explosive("k"), { maxMemoEntries: 5000 });
  assert.equal(result.linearizable, "unknown");
  assert.deepEqual(result.unknownKeys, ["k"]);
  assert.equal(result.keysChecked, 0);
  assert.equal(result.firstFailingKey, null);
  assert.match(result.excerpt ?? "", /^key "k": unknown: the memo of visited configurations is full at 5000 entries \(maxMemoEntries 5000/);
  const byBytes = checkKvHistory(explosive("k"), { maxMemoBytes: 64 * 1024 });
  assert.equal(byBytes.linearizable, "unknown");
  assert.match(byBytes.excerpt ?? "", /maxMemoBytes 65536/);
});

test("a spent time budget answers unknown, promptly", () => {
  const startedMs = performance.now();
  const result = checkKvHistory(explosive("k"), { timeBudgetMs: 100 });
  const elapsedMs = performance.now() - startedMs;
  assert.equal(result.linearizable, "unknown");
  assert.match(result.excerpt ?? "", /the time budget of 100 ms \(timeBudgetMs\) is spent/);
  assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
});

test("a spent step budget answers unknown, and the budget is shared by all keys", () => {
  const result = checkKvHistory([...explosive("a"), ...explosive("b")], { maxSearchSteps: 10_000 });
  assert.equal(result.linearizable, "unknown");
  assert.deepEqual(result.unknownKeys, ["a", "b"]);
  assert.ok(result.searchSteps <= 10_000, `${result.searchSteps} steps`);
  assert.match(result.excerpt ?? "", /^key "a": unknown: the search-step budget \(maxSearchSteps\) is spent/);
});

test("a key that fails outweighs a key that is unknown", () => {
  const failing = [h.write(1, 0, 1, "z", "a"), h.read(2, 2, 3, "z", null)];
  const result = checkKvHistory([...explosive("k"), ...failing, h.write(1, 0, 1, "fine", "x")], { maxMemoEntries: 5000 });
  assert.equal(result.linearizable, false);
  assert.equal(result.firstFailingKey, "z");
  assert.deepEqual(result.unknownKeys, ["k"]);
  assert.equal(result.keysChecked, 2);
  assert.equal(result.keyCount, 3);
});

test("bad input is refused with EINVAL naming the operation", () => {
  const refused = (ops: HistoryOperation[], pattern: RegExp): void => {
    assert.throws(() => checkKvHistory(ops), (error: unknown) => error instanceof RaftError && error.code === "EINVAL" && pattern.test(error.message));
  };
  refused([{ ...h.write(1, 0, 1, "k", "a"), completeMs: null }], /operation 0 \(process 1\): an ok operation needs a finite completeMs/);
  refused([h.read(1, 0, 1, "k", "a"), { ...h.write(2, 5, 4, "k", "a") }], /operation 1 \(process 2\): an ok operation needs a finite completeMs at or after invokeMs 5/);
  refused([{ ...h.write(1, 0, 1, "k", "a"), output: null }], /an ok operation needs an output/);
  refused([{ ...h.write(1, Number.NaN, 1, "k", "a") }], /invokeMs must be a finite number/);
  refused([{ ...h.write(1, 0, 1, "k", "a"), output: { kind: "read", value: "a" } }], /a write answered with a read output/);
  refused([h.write(1, 0, 1, "k", "a"), h.sequence(2, 0, 1, "k", 1, 0)], /key "k" has both sequence and register operations/);
  assert.throws(() => checkKvHistory([], { timeBudgetMs: 0 }), /timeBudgetMs must be positive/);
});
