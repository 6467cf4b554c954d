/**
 * The checker at the size a nemesis run produces: 20,000 operations over 30
 * keys from concurrent clients, a few percent of them unanswered. A run of an
 * atomic store passes; the same run with one provable anomaly injected fails
 * on the right key. Times are printed, not asserted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkKvHistory, lostAcknowledgedWrites } from "../src/check/index.js";
import { injectLostWrite, injectSeenThenUnseen, injectStaleRead, simulateHistory, type Mutation, type SimulationOptions } from "./support/check-histories.js";

const NEMESIS_SIZED: SimulationOptions = { seed: 2024, operationCount: 20_000, keyCount: 30, processCount: 20, infoShare: 0.03, failShare: 0.02, workload: "register" };

test("20,000 operations over 30 keys: a simulated register run is linearizable", (t) => {
  const run = simulateHistory(NEMESIS_SIZED);
  const result = checkKvHistory(run.operations);
  t.diagnostic(`register: ${result.elapsedMs.toFixed(0)} ms, ${result.searchSteps} search steps, ${JSON.stringify(result.counts)}`);
  assert.equal(result.linearizable, true, result.excerpt ?? "");
  assert.equal(result.keysChecked, 30);
  assert.equal(result.firstFailingKey, null);
  assert.ok(result.counts.info > 400 && result.counts.fail > 200, JSON.stringify(result.counts));
  assert.deepEqual(lostAcknowledgedWrites(run.operations, run.finalValues), []);
});

test("20,000 operations over 30 keys: a simulated sequence run is linearizable", (t) => {
  const run = simulateHistory({ ...NEMESIS_SIZED, workload: "sequence" });
  const result = checkKvHistory(run.operations);
  t.diagnostic(`sequence: ${result.elapsedMs.toFixed(0)} ms, ${result.searchSteps} search steps`);
  assert.equal(result.linearizable, true, result.excerpt ?? "");
  assert.equal(result.keysChecked, 30);
});

for (const [anomaly, inject] of [
  ["a stale read", injectStaleRead],
  ["a lost write", injectLostWrite],
  ["a read that sees a value and then an earlier one", injectSeenThenUnseen],
] as const) {
  test(`20,000 operations over 30 keys: ${anomaly} is found on its key`, (t) => {
    const mutation: Mutation = inject(simulateHistory(NEMESIS_SIZED));
    const result = checkKvHistory(mutation.operations);
    t.diagnostic(`${anomaly}: ${result.elapsedMs.toFixed(0)} ms, ${result.searchSteps} search steps`);
    assert.equal(result.linearizable, false);
    assert.deepEqual(result.failingKeys, [mutation.key]);
    assert.equal(result.firstFailingKey, mutation.key);
    assert.equal(result.keysChecked, 30);
    assert.match(result.excerpt ?? "", new RegExp(`^key "${mutation.key}" is not linearizable`));
  });
}

test("a busier single key: 3,000 operations from 8 clients", (t) => {
  const run = simulateHistory({ ...NEMESIS_SIZED, seed: 7, operationCount: 3000, keyCount: 1, processCount: 8 });
  const result = checkKvHistory(run.operations);
  t.diagnostic(`one key, 8 clients: ${result.elapsedMs.toFixed(0)} ms, ${result.searchSteps} search steps`);
  assert.equal(result.linearizable, true, result.excerpt ?? "");
  assert.equal(checkKvHistory(injectSeenThenUnseen(run).operations).linearizable, false);
});
