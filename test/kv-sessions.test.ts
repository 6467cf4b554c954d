/** Client sessions: exactly-once retries, forgetting acknowledged results, bounds, eviction and expiry by store time. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RaftError } from "../src/errors.js";
import type { WriteCall, WriteOp, WriteResult } from "../src/kv/commands.js";
import { ClientSessions, type SessionOptions } from "../src/kv/sessions.js";

const op: WriteOp = { type: "delete", key: new Uint8Array([1]) };

/** Sessions in front of a counter: every applied write gets the next count, so a re-application shows. */
function harness(options: SessionOptions = {}) {
  const sessions = new ClientSessions(options);
  let applied = 0;
  const call = (clientId: string, seq: number, firstUnackedSeq: number, timeMs = 1000): WriteResult => {
    const writeCall: WriteCall = { kind: "write", clientId, seq, firstUnackedSeq, op };
    return sessions.apply(writeCall, timeMs, () => ({ type: "count", value: ++applied }));
  };
  return { sessions, call, applied: () => applied };
}

function expectCompacted(result: WriteResult, pattern: RegExp): void {
  assert.equal(result.type, "error");
  assert.equal(result.type === "error" && result.code, "ECOMPACTED");
  assert.match(result.type === "error" ? result.message : "", pattern);
}

test("a retried write returns its first result without being applied again", () => {
  const { call, applied, sessions } = harness();
  assert.deepEqual(call("c1", 1, 1), { type: "count", value: 1 });
  assert.deepEqual(call("c1", 2, 1), { type: "count", value: 2 });
  assert.deepEqual(call("c1", 1, 1), { type: "count", value: 1 }, "the retry of seq 1");
  assert.deepEqual(call("c1", 2, 1), { type: "count", value: 2 });
  assert.equal(applied(), 2);
  assert.deepEqual(call("c2", 1, 1), { type: "count", value: 3 }, "another client's seq 1 is its own");
  assert.deepEqual(
    sessions.describe("c1")?.results.map(([seq]) => seq),
    [1, 2],
  );
});

test("results the client acknowledged are forgotten; their retries get ECOMPACTED", () => {
  const { call, applied, sessions } = harness();
  call("c", 1, 1);
  call("c", 2, 1);
  call("c", 3, 1);
  assert.deepEqual(call("c", 4, 3), { type: "count", value: 4 }, "acknowledges 1 and 2");
  assert.deepEqual(sessions.describe("c")?.results.map(([seq]) => seq), [3, 4]);
  assert.equal(sessions.describe("c")?.forgottenBelowSeq, 3);
  expectCompacted(call("c", 2, 1), /the result of this retried write is no longer kept \(client c, seq 2; results below seq 3 are forgotten\)/);
  assert.deepEqual(call("c", 3, 1), { type: "count", value: 3 }, "an older acknowledgement in a late retry forgets nothing");
  assert.equal(applied(), 4);
});

test("a session remembers at most maxResultsPerSession results: the lowest seq goes first", () => {
  const { call, applied, sessions } = harness({ maxResultsPerSession: 3 });
  for (let seq = 1; seq <= 5; seq++) call("c", seq, 1);
  assert.deepEqual(sessions.describe("c")?.results.map(([seq]) => seq), [3, 4, 5]);
  expectCompacted(call("c", 2, 1), /results below seq 3/);
  assert.deepEqual(call("c", 3, 1), { type: "count", value: 3 });
  assert.equal(applied(), 5);
});

test("a session remembers results up to maxResultBytesPerSession, always the newest", () => {
  const sessions = new ClientSessions({ maxResultBytesPerSession: 400 });
  const value = (n: number): WriteResult => ({ type: "value", value: new Uint8Array(n) });
  const apply = (seq: number, bytes: number): WriteResult => sessions.apply({ kind: "write", clientId: "c", seq, firstUnackedSeq: 1, op }, 1, () => value(bytes));
  apply(1, 100);
  apply(2, 100);
  assert.deepEqual(sessions.describe("c")?.results.map(([seq]) => seq), [1, 2]);
  apply(3, 100);
  assert.deepEqual(sessions.describe("c")?.results.map(([seq]) => seq), [2, 3], "three of 164 bytes pass 400");
  apply(4, 1000);
  assert.deepEqual(sessions.describe("c")?.results.map(([seq]) => seq), [4], "the newest stays even alone above the bound");
});

test("beyond maxSessions the least recently written session is evicted; the evicted client starts over", () => {
  const { call, sessions, applied } = harness({ maxSessions: 2 });
  call("a", 1, 1, 1000);
  call("b", 1, 1, 1000);
  call("a", 2, 1, 1000); // a is now more recent than b, at the same store time
  call("c", 1, 1, 1000);
  assert.equal(sessions.size, 2);
  assert.equal(sessions.describe("b"), undefined, "b wrote least recently");
  assert.ok(sessions.describe("a") !== undefined && sessions.describe("c") !== undefined);
  assert.deepEqual(call("b", 1, 1, 1000), { type: "count", value: 5 }, "a new session: its retry is applied again (the documented limit)");
  assert.equal(applied(), 5);
  assert.equal(sessions.describe("a"), undefined, "and a, now the least recent, made room");
});

test("a session expires after sessionTtlMs of store time without a write", () => {
  const { call, sessions } = harness({ sessionTtlMs: 1000 });
  call("old", 1, 1, 10_000);
  call("young", 1, 1, 10_500);
  call("young", 2, 1, 10_999);
  assert.equal(sessions.size, 2);
  sessions.expire(10_999);
  assert.equal(sessions.size, 2, "not yet");
  sessions.expire(11_000);
  assert.equal(sessions.describe("old"), undefined, "a write at 10,000 expires at 11,000");
  assert.ok(sessions.describe("young") !== undefined);
  call("other", 1, 1, 12_000);
  assert.equal(sessions.describe("young"), undefined, "expiry also happens as writes arrive");
  assert.deepEqual([...sessions.snapshots()].map((s) => s.clientId), ["other"]);
});

test("a new session starts at the client's firstUnackedSeq: seqs below it are not applied", () => {
  const { call, applied } = harness();
  assert.deepEqual(call("late", 7, 5), { type: "count", value: 1 });
  expectCompacted(call("late", 4, 4), /results below seq 5/);
  assert.equal(applied(), 1);
});

test("snapshots() and restore() rebuild the same sessions in the same order", () => {
  const { call, sessions } = harness({ maxResultsPerSession: 10 });
  call("a", 1, 1, 100);
  call("b", 1, 1, 200);
  call("b", 2, 1, 300);
  call("a", 2, 2, 400);
  const copy = new ClientSessions({ maxResultsPerSession: 10 });
  for (const snapshot of sessions.snapshots()) copy.restore(snapshot);
  assert.deepEqual([...copy.snapshots()], [...sessions.snapshots()]);
  assert.deepEqual([...copy.snapshots()].map((s) => s.clientId), ["b", "a"]);
  assert.throws(() => copy.restore([...sessions.snapshots()][0]!), (e: unknown) => e instanceof RaftError && e.code === "ECORRUPT");
});

test("options are checked", () => {
  assert.throws(() => new ClientSessions({ maxSessions: 0 }), /maxSessions must be a positive integer, got 0/);
  assert.throws(() => new ClientSessions({ sessionTtlMs: 1.5 }), /sessionTtlMs must be a positive integer/);
});

test("model check: the session order is least recently written first, through repeated writers, evictions and a restore", () => {
  const step = fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom("a", "b", "c", "d", "e").map((clientId) => ({ kind: "write" as const, clientId })) },
    { weight: 1, arbitrary: fc.constant({ kind: "restore" as const }) },
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 60 }), (maxSessions, steps) => {
      let sessions = new ClientSessions({ maxSessions });
      let model: string[] = [];
      const seqs = new Map<string, number>();
      for (const s of steps) {
        if (s.kind === "restore") {
          const copy = new ClientSessions({ maxSessions });
          for (const snapshot of sessions.snapshots()) copy.restore(snapshot);
          sessions = copy;
          continue;
        }
        const seq = (seqs.get(s.clientId) ?? 0) + 1;
        seqs.set(s.clientId, seq);
        sessions.apply({ kind: "write", clientId: s.clientId, seq, firstUnackedSeq: seq, op }, 1000, () => ({ type: "count", value: 0 }));
        model = model.filter((id) => id !== s.clientId);
        if (model.length >= maxSessions) model.shift();
        model.push(s.clientId);
        assert.deepEqual([...sessions.snapshots()].map((snapshot) => snapshot.clientId), model);
      }
    }),
    { numRuns: 500 },
  );
});
