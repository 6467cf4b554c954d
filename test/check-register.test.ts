/**
 * The linearizability checker on hand-written register histories, each small
 * enough to verify by eye: which ones are linearizable, which are not, and
 * what the report says about the ones that are not.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkKvHistory, checkLinearizable, registerModel, type HistoryOperation, type Operation, type RegisterInput, type RegisterOutput } from "../src/check/index.js";
import { history as h } from "./support/check-histories.js";

const verdict = (ops: HistoryOperation[]): boolean | "unknown" => checkKvHistory(ops).linearizable;

test("concurrent writes may be read in either order", () => {
  const writes = [h.write(1, 0, 10, "k", "a"), h.write(2, 0, 10, "k", "b")];
  assert.equal(verdict([...writes, h.read(3, 11, 12, "k", "a")]), true);
  assert.equal(verdict([...writes, h.read(3, 11, 12, "k", "b")]), true);
  // Reads during the writes may see one value and then the other.
  assert.equal(verdict([...writes, h.read(3, 1, 2, "k", "a"), h.read(3, 3, 4, "k", "b")]), true);
  assert.equal(verdict([...writes, h.read(3, 1, 2, "k", "b"), h.read(3, 3, 4, "k", "a")]), true);
  // Before any write takes effect the key is absent.
  assert.equal(verdict([...writes, h.read(3, 0, 1, "k", null)]), true);
});

test("an unanswered write may take effect much later, or never", () => {
  const before = [h.write(1, 0, 1, "k", "a"), h.info(2, 2, { kind: "write", key: "k", value: "x" })];
  assert.equal(verdict([...before, h.read(3, 100, 101, "k", "x")]), true, "seen long after it was invoked");
  assert.equal(verdict([...before, h.read(3, 3, 4, "k", "a"), h.read(3, 10, 11, "k", "a")]), true, "never seen");
  assert.equal(verdict([...before, h.read(3, 3, 4, "k", "a"), h.read(3, 10, 11, "k", "x"), h.read(3, 12, 13, "k", "x")]), true, "seen after it was missed");
  // But not before it was invoked.
  assert.equal(verdict([h.write(1, 0, 1, "k", "a"), h.read(3, 2, 3, "k", "x"), h.info(2, 4, { kind: "write", key: "k", value: "x" })]), false);
  // And once seen and then overwritten, it cannot come back: it takes effect once.
  const overwritten = [...before, h.read(3, 10, 11, "k", "x"), h.write(1, 12, 13, "k", "b"), h.read(3, 14, 15, "k", "x")];
  const result = checkKvHistory(overwritten);
  assert.equal(result.linearizable, false);
  assert.ok((result.excerpt ?? "").includes('  p2 invoke write "x" @2ms ... info (no answer)   <- taken to take effect here\n  p3 invoke read @10ms'), result.excerpt ?? "");
});

test("an unanswered read constrains nothing and a failed write never took effect", () => {
  const unansweredRead = h.info(2, 2, { kind: "read", key: "k" });
  assert.equal(verdict([h.write(1, 0, 1, "k", "a"), unansweredRead, h.read(3, 3, 4, "k", "a")]), true);
  const failed = h.fail(2, 2, 3, { kind: "write", key: "k", value: "x" });
  assert.equal(verdict([h.write(1, 0, 1, "k", "a"), failed, h.read(3, 4, 5, "k", "a")]), true);
  assert.equal(verdict([h.write(1, 0, 1, "k", "a"), failed, h.read(3, 4, 5, "k", "x")]), false);
});

test("a stale read is not linearizable, and the report shows where it got stuck", () => {
  const result = checkKvHistory([h.write(1, 0, 1, "k1", "a"), h.write(2, 2, 3, "k1", "b"), h.read(3, 4, 5, "k1", "a")]);
  assert.equal(result.linearizable, false);
  assert.equal(result.firstFailingKey, "k1");
  assert.deepEqual(result.failingKeys, ["k1"]);
  assert.equal(result.keysChecked, 1);
  const excerpt = result.excerpt ?? "";
  assert.match(excerpt, /^key "k1" is not linearizable: at most 2 of its 3 operations/);
  assert.ok(excerpt.includes('  p1 invoke write "a" @0ms ... ok @1ms\n  p2 invoke write "b" @2ms ... ok @3ms'), excerpt);
  assert.ok(excerpt.includes('state after it: "b"'), excerpt);
  assert.ok(excerpt.includes('  p3 invoke read @4ms ... ok @5ms -> "a"   <- returned first'), excerpt);
});

test("an acknowledged write that is lost is not linearizable", () => {
  assert.equal(verdict([h.write(1, 0, 1, "k", "a"), h.read(2, 2, 3, "k", null)]), false);
  assert.equal(verdict([h.write(1, 0, 1, "k", "a"), h.write(1, 2, 3, "k", "b"), h.read(2, 4, 5, "k", "a"), h.read(2, 6, 7, "k", "a")]), false);
  // While the write is in flight, missing it is fine.
  assert.equal(verdict([h.write(1, 0, 10, "k", "a"), h.read(2, 2, 3, "k", null)]), true);
});

test("a value seen and then unseen is not linearizable", () => {
  const writes = [h.write(1, 0, 1, "k", "a"), h.write(2, 0, 10, "k", "b")];
  assert.equal(verdict([...writes, h.read(3, 2, 3, "k", "a"), h.read(3, 4, 5, "k", "b")]), true, "a then b is the order of effect");
  assert.equal(verdict([...writes, h.read(3, 2, 3, "k", "b"), h.read(3, 4, 5, "k", "a")]), false, "b then a needs a write of a after b");
  assert.equal(verdict([...writes, h.read(3, 2, 3, "k", "b"), h.read(4, 2, 3, "k", "a")]), true, "concurrent reads may disagree while b is in flight");
});

test("compare-and-set succeeds exactly when its expectation holds", () => {
  const a = h.write(1, 0, 1, "k", "a");
  assert.equal(verdict([a, h.cas(2, 2, 3, "k", "a", "c", true), h.read(3, 4, 5, "k", "c")]), true);
  assert.equal(verdict([a, h.cas(2, 2, 3, "k", "z", "c", true)]), false, "succeeded although the value was a");
  assert.equal(verdict([a, h.cas(2, 2, 3, "k", "a", "c", false)]), false, "failed although the value was a");
  assert.equal(verdict([a, h.cas(2, 2, 3, "k", null, "c", false), h.read(3, 4, 5, "k", "a")]), true, "expecting absent fails on a present key");
  assert.equal(verdict([h.cas(2, 0, 1, "k", null, "c", true), h.read(3, 2, 3, "k", "c")]), true, "expecting absent succeeds on an absent key");
  assert.equal(verdict([a, h.cas(2, 2, 3, "k", "z", "c", false), h.read(3, 4, 5, "k", "c")]), false, "a failed compare-and-set wrote");
  const unanswered = h.info(2, 2, { kind: "cas", key: "k", expect: "a", value: "c" });
  assert.equal(verdict([a, unanswered, h.read(3, 4, 5, "k", "c")]), true, "an unanswered compare-and-set took effect");
  assert.equal(verdict([h.write(1, 0, 1, "k", "b"), unanswered, h.read(3, 4, 5, "k", "c")]), false, "it cannot take effect when its expectation is false");
});

test("delete makes the key absent", () => {
  const a = h.write(1, 0, 1, "k", "a");
  assert.equal(verdict([a, h.delete(2, 2, 3, "k"), h.read(3, 4, 5, "k", null)]), true);
  assert.equal(verdict([a, h.delete(2, 2, 3, "k"), h.read(3, 4, 5, "k", "a")]), false);
  assert.equal(verdict([a, h.info(2, 2, { kind: "delete", key: "k" }), h.read(3, 4, 5, "k", "a"), h.read(3, 6, 7, "k", null)]), true);
});

test("operations touching at one instant count as concurrent", () => {
  // The read is invoked at the very time the write returns: it may still precede it.
  assert.equal(verdict([h.write(1, 0, 5, "k", "a"), h.read(2, 5, 6, "k", null)]), true);
  assert.equal(verdict([h.write(1, 0, 5, "k", "a"), h.read(2, 5.001, 6, "k", null)]), false);
});

test("many unanswered writes, never read, stay cheap", () => {
  const ops: HistoryOperation[] = [];
  for (let i = 0; i < 60; i++) ops.push(h.info(100 + i, i, { kind: "write", key: "k", value: `lost${i}` }));
  for (let i = 0; i < 200; i++) ops.push(h.read(1, 100 + 2 * i, 101 + 2 * i, "k", null));
  ops.push(h.write(2, 600, 601, "k", "z"), h.read(1, 602, 603, "k", "z"));
  const linearizable = checkKvHistory(ops);
  assert.equal(linearizable.linearizable, true);
  assert.ok(linearizable.searchSteps < 50_000, `${linearizable.searchSteps} steps`);
  const broken = checkKvHistory([...ops, h.read(1, 604, 605, "k", null)]);
  assert.equal(broken.linearizable, false);
});

test("keys are checked one by one, and the report names the failing one", () => {
  const result = checkKvHistory([
    h.write(1, 0, 1, "good", "a"),
    h.read(2, 2, 3, "good", "a"),
    h.write(1, 4, 5, "bad", "b"),
    h.read(2, 6, 7, "bad", null),
    h.write(1, 8, 9, "worse", "c"),
    h.read(2, 10, 11, "worse", null),
  ]);
  assert.equal(result.linearizable, false);
  assert.equal(result.keyCount, 3);
  assert.equal(result.keysChecked, 3);
  assert.deepEqual(result.failingKeys, ["bad", "worse"]);
  assert.equal(result.firstFailingKey, "bad", "it got stuck first in time");
  assert.match(result.excerpt ?? "", /^key "bad"/);
  assert.deepEqual(result.counts, { total: 6, ok: 6, fail: 0, info: 0 });
  assert.equal(checkKvHistory([]).linearizable, true);
});

test("the generic register model also judges putIfAbsent and getAndPut", () => {
  const op = (process: number, invokeMs: number, completeMs: number, input: RegisterInput, output: RegisterOutput): Operation<RegisterInput, RegisterOutput> => ({
    process, input, invokeMs, status: "ok", completeMs, output,
  });
  const put = op(1, 0, 1, { kind: "putIfAbsent", value: "a" }, { kind: "putIfAbsent", previous: null });
  const check = (ops: Operation<RegisterInput, RegisterOutput>[]): boolean | "unknown" => checkLinearizable(registerModel, ops).linearizable;
  assert.equal(check([put, op(2, 2, 3, { kind: "read" }, { kind: "read", value: "a" })]), true);
  assert.equal(check([put, op(2, 2, 3, { kind: "putIfAbsent", value: "b" }, { kind: "putIfAbsent", previous: "a" })]), true);
  assert.equal(check([put, op(2, 2, 3, { kind: "putIfAbsent", value: "b" }, { kind: "putIfAbsent", previous: null })]), false);
  assert.equal(check([put, op(2, 2, 3, { kind: "getAndPut", value: "b" }, { kind: "getAndPut", previous: "a" }), op(3, 4, 5, { kind: "read" }, { kind: "read", value: "b" })]), true);
  assert.equal(check([put, op(2, 2, 3, { kind: "getAndPut", value: "b" }, { kind: "getAndPut", previous: "b" })]), false);
  const failed = checkLinearizable(registerModel, [put, op(2, 2, 3, { kind: "read" }, { kind: "read", value: null })]);
  assert.equal(failed.linearizable, false);
  assert.match(failed.excerpt ?? "", /the register history is not linearizable/);
  assert.ok((failed.excerpt ?? "").includes("p2 invoke read @2ms ... ok @3ms -> absent"), failed.excerpt ?? "");
});
