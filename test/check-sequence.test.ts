/** The linearizability checker on hand-written getSequence histories. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkKvHistory, type HistoryOperation } from "../src/check/index.js";
import { history as h } from "./support/check-histories.js";

const verdict = (ops: HistoryOperation[]): boolean | "unknown" => checkKvHistory(ops).linearizable;

test("sequential and concurrent increments hand out each value once", () => {
  assert.equal(verdict([h.sequence(1, 0, 1, "s", 1, 0), h.sequence(1, 2, 3, "s", 2, 1), h.sequence(1, 4, 5, "s", 0, 3)]), true);
  // Concurrent increments may take effect in either order.
  assert.equal(verdict([h.sequence(1, 0, 5, "s", 1, 0), h.sequence(2, 0, 5, "s", 1, 1)]), true);
  assert.equal(verdict([h.sequence(1, 0, 5, "s", 1, 1), h.sequence(2, 0, 5, "s", 1, 0)]), true);
  assert.equal(verdict([h.sequence(1, 0, 1, "s", 1, 1)]), false, "the counter starts at 0");
});

test("duplicate sequence values are not linearizable", () => {
  assert.equal(verdict([h.sequence(1, 0, 5, "s", 1, 0), h.sequence(2, 0, 5, "s", 1, 0)]), false);
  assert.equal(verdict([h.sequence(1, 0, 1, "s", 1, 0), h.sequence(2, 2, 3, "s", 1, 0)]), false);
});

test("a sequence going backwards is not linearizable", () => {
  const up = [h.sequence(1, 0, 1, "s", 1, 0), h.sequence(1, 2, 3, "s", 1, 1), h.sequence(1, 4, 5, "s", 1, 2)];
  assert.equal(verdict([...up, h.sequence(2, 6, 7, "s", 0, 3)]), true);
  const result = checkKvHistory([...up, h.sequence(2, 6, 7, "s", 0, 1)]);
  assert.equal(result.linearizable, false);
  assert.equal(result.firstFailingKey, "s");
  assert.ok((result.excerpt ?? "").includes("state after it: counter 3"), result.excerpt ?? "");
  assert.ok((result.excerpt ?? "").includes("p2 invoke getSequence 0 @6ms ... ok @7ms -> previous 1   <- returned first"), result.excerpt ?? "");
});

test("unanswered increments explain gaps, and may never take effect", () => {
  const gap = [h.sequence(1, 0, 1, "s", 1, 0), h.sequence(1, 4, 5, "s", 1, 3)];
  assert.equal(verdict(gap), false, "nothing explains the gap");
  assert.equal(verdict([...gap, h.info(2, 2, { kind: "sequence", key: "s", step: 2 })]), true);
  assert.equal(verdict([...gap, h.info(2, 2, { kind: "sequence", key: "s", step: 1 }), h.info(3, 2, { kind: "sequence", key: "s", step: 1 })]), true);
  assert.equal(verdict([...gap, h.info(2, 2, { kind: "sequence", key: "s", step: 3 })]), false, "a step of 3 overshoots");
  assert.equal(verdict([...gap, h.info(2, 6, { kind: "sequence", key: "s", step: 2 })]), false, "invoked too late to explain it");
  assert.equal(verdict([...gap, h.info(2, 2, { kind: "sequence", key: "s", step: 0 })]), false, "a read changes nothing");
});

/** Per round: one unanswered increment that takes effect, one that never does, then five answered ones. */
function roundsOfUnanswered(rounds: number): { ops: HistoryOperation[]; counter: number; timeMs: number } {
  const ops: HistoryOperation[] = [];
  let counter = 0;
  let timeMs = 0;
  for (let round = 0; round < rounds; round++) {
    const step = 1 + (round % 3);
    ops.push(h.info(1000 + 2 * round, timeMs, { kind: "sequence", key: "s", step }));
    ops.push(h.info(1001 + 2 * round, timeMs, { kind: "sequence", key: "s", step: 1 + ((round + 1) % 3) }));
    counter += step;
    for (let i = 0; i < 5; i++) {
      ops.push(h.sequence(1, timeMs + 1, timeMs + 2, "s", 1, counter));
      counter += 1;
      timeMs += 3;
    }
  }
  return { ops, counter, timeMs };
}

test("many unanswered increments of mixed steps stay cheap when the history is linearizable", () => {
  const { ops } = roundsOfUnanswered(40);
  const result = checkKvHistory(ops);
  assert.equal(result.linearizable, true);
  assert.ok(result.searchSteps < 50_000, `${result.searchSteps} steps`);
});

test("a duplicate after many unanswered increments is found", () => {
  // Proving it means trying every count of every step size of the 20 that
  // never took effect, so this one is kept smaller.
  const { ops, counter, timeMs } = roundsOfUnanswered(15);
  assert.equal(checkKvHistory(ops).linearizable, true);
  const duplicated = checkKvHistory([...ops, h.sequence(2, timeMs + 1, timeMs + 2, "s", 1, counter - 1)]);
  assert.equal(duplicated.linearizable, false);
  assert.equal(duplicated.firstFailingKey, "s");
});
