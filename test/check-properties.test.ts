/**
 * Property tests of the linearizability checker against a brute-force
 * checker that tries every order of every subset, on histories small enough
 * for it: random operations with random outputs, answered, unanswered and
 * failed, touching in time or overlapping. Equal verdicts on thousands of
 * them cover the search's shortcuts (committed reads, twin classes, skipped
 * no-op placements, subset memo, collapsed unobserved values) both ways: no
 * false alarm and no missed violation.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  checkKvHistory,
  checkLinearizable,
  lostAcknowledgedWrites,
  registerModel,
  sequenceModel,
  type HistoryOperation,
  type KvInput,
  type KvOutput,
  type Operation,
  type RegisterInput,
  type RegisterOutput,
} from "../src/check/index.js";
import { bruteForceLinearizable, simulateHistory } from "./support/check-histories.js";

const value = fc.constantFrom("a", "b");
const observed = fc.constantFrom<string | null>("a", "b", null);
const status = fc.constantFrom<"ok" | "fail" | "info">("ok", "ok", "ok", "info", "info", "fail");

/** An input with the output it would be answered with, if answered. */
const registerCall: fc.Arbitrary<{ input: KvInput; output: KvOutput }> = fc.oneof(
  observed.map((seen) => ({ input: { kind: "read" as const, key: "k" }, output: { kind: "read" as const, value: seen } })),
  value.map((written) => ({ input: { kind: "write" as const, key: "k", value: written }, output: { kind: "write" as const } })),
  fc.constant({ input: { kind: "delete" as const, key: "k" }, output: { kind: "delete" as const } }),
  fc.tuple(observed, value, fc.boolean()).map(([expect, written, succeeded]) => ({
    input: { kind: "cas" as const, key: "k", expect, value: written },
    output: { kind: "cas" as const, succeeded },
  })),
);

const sequenceCall: fc.Arbitrary<{ input: KvInput; output: KvOutput }> = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 4 }))
  .map(([step, previous]) => ({ input: { kind: "sequence" as const, key: "s", step }, output: { kind: "sequence" as const, previous } }));

function historyOf(call: fc.Arbitrary<{ input: KvInput; output: KvOutput }>, maxLength: number): fc.Arbitrary<HistoryOperation[]> {
  const operation = fc.record({ call, status, invokeMs: fc.integer({ min: 0, max: 8 }), durationMs: fc.integer({ min: 0, max: 4 }) });
  return fc.array(operation, { minLength: 1, maxLength }).map((drawn) =>
    drawn.map(({ call: { input, output }, status: drawnStatus, invokeMs, durationMs }, process) => ({
      process,
      input,
      invokeMs,
      status: drawnStatus,
      completeMs: drawnStatus === "info" ? null : invokeMs + durationMs,
      output: drawnStatus === "ok" ? output : null,
    })),
  );
}

test("register histories: the checker agrees with brute force", () => {
  let linearizable = 0;
  fc.assert(
    fc.property(historyOf(registerCall, 8), (ops) => {
      const expected = bruteForceLinearizable(registerModel, ops as Operation<RegisterInput, RegisterOutput>[]);
      if (expected) linearizable++;
      assert.equal(checkKvHistory(ops).linearizable, expected);
    }),
    { numRuns: 3000 },
  );
  assert.ok(linearizable > 300 && linearizable < 2700, `both verdicts are exercised: ${linearizable} of 3000 linearizable`);
});

test("sequence histories: the checker agrees with brute force", () => {
  fc.assert(
    fc.property(historyOf(sequenceCall, 8), (ops) => {
      const expected = bruteForceLinearizable(sequenceModel, ops.map(asSequence));
      assert.equal(checkKvHistory(ops).linearizable, expected);
    }),
    { numRuns: 2000 },
  );
});

test("putIfAbsent and getAndPut through the generic checker agree with brute force", () => {
  const extraCall: fc.Arbitrary<{ input: RegisterInput; output: RegisterOutput }> = fc.oneof(
    fc.tuple(value, observed).map(([written, previous]) => ({ input: { kind: "putIfAbsent" as const, value: written }, output: { kind: "putIfAbsent" as const, previous } })),
    fc.tuple(value, observed).map(([written, previous]) => ({ input: { kind: "getAndPut" as const, value: written }, output: { kind: "getAndPut" as const, previous } })),
    observed.map((seen) => ({ input: { kind: "read" as const }, output: { kind: "read" as const, value: seen } })),
    value.map((written) => ({ input: { kind: "write" as const, value: written }, output: { kind: "write" as const } })),
  );
  const operation = fc.record({ call: extraCall, status, invokeMs: fc.integer({ min: 0, max: 8 }), durationMs: fc.integer({ min: 0, max: 4 }) });
  fc.assert(
    fc.property(fc.array(operation, { minLength: 1, maxLength: 7 }), (drawn) => {
      const ops: Operation<RegisterInput, RegisterOutput>[] = drawn.map(({ call, status: drawnStatus, invokeMs, durationMs }, process) => ({
        process,
        input: call.input,
        invokeMs,
        status: drawnStatus,
        completeMs: drawnStatus === "info" ? null : invokeMs + durationMs,
        output: drawnStatus === "ok" ? call.output : null,
      }));
      assert.equal(checkLinearizable(registerModel, ops).linearizable, bruteForceLinearizable(registerModel, ops));
    }),
    { numRuns: 1500 },
  );
});

test("simulated runs of an atomic store are linearizable", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 8 }),
      fc.constantFrom<"register" | "sequence">("register", "sequence"),
      (seed, keyCount, processCount, workload) => {
        const run = simulateHistory({ seed, operationCount: 300, keyCount, processCount, infoShare: 0.05, failShare: 0.05, workload });
        const result = checkKvHistory(run.operations);
        assert.equal(result.linearizable, true, result.excerpt ?? "");
        assert.deepEqual(lostAcknowledgedWrites(run.operations, run.finalValues), []);
      },
    ),
    { numRuns: 60 },
  );
});

test("a reported lost write is never a false alarm", () => {
  let reported = 0;
  fc.assert(
    fc.property(historyOf(registerCall, 7), observed, (ops, finalValue) => {
      const lost = lostAcknowledgedWrites(ops, new Map([["k", finalValue]]));
      if (lost.length === 0) return;
      reported++;
      // The final read comes after every invocation and every answer.
      const afterAllMs = Math.max(...ops.map((op) => Math.max(op.invokeMs, op.completeMs ?? 0))) + 1;
      const finalRead: HistoryOperation = { process: -1, input: { kind: "read", key: "k" }, invokeMs: afterAllMs, status: "ok", completeMs: afterAllMs + 1, output: { kind: "read", value: finalValue } };
      const withFinalRead = [...ops, finalRead] as Operation<RegisterInput, RegisterOutput>[];
      assert.equal(bruteForceLinearizable(registerModel, withFinalRead), false, JSON.stringify({ ops, finalValue, lost }));
    }),
    { numRuns: 3000 },
  );
  assert.ok(reported > 100, `the rule fired ${reported} times`);
});

function asSequence(op: HistoryOperation): Operation<{ step: number }, { previous: number }> {
  if (op.input.kind !== "sequence" || (op.output !== null && op.output.kind !== "sequence")) throw new Error("not a sequence operation");
  return { ...op, input: op.input, output: op.output };
}
