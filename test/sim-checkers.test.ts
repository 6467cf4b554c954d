/**
 * Each simulator checker is fed a fabricated violation and must report it
 * (and must accept the matching correct history). A checker that stopped
 * checking would fail these tests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InvariantError } from "../src/core/assert.js";
import { SeededRandom } from "../src/core/random.js";
import { EntryType, type Entry } from "../src/core/types.js";
import { ReadChecker } from "../src/sim/checkers/reads.js";
import { SafetyChecker } from "../src/sim/checkers/safety.js";
import { Violation, type ViolationKind } from "../src/sim/checkers/violation.js";
import { Clients } from "../src/sim/clients.js";
import { Cluster } from "../src/sim/cluster.js";
import { digestEntry } from "../src/sim/digest.js";
import { checkLiveness } from "../src/sim/liveness.js";
import { CALM_NETWORK } from "../src/sim/network.js";
import { asViolation } from "../src/sim/run-seed.js";
import { HashStateMachine } from "../src/sim/state-machine.js";

const encoder = new TextEncoder();

function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, type: EntryType.Normal, data: encoder.encode(text) };
}

function throwsViolation(kind: ViolationKind, fn: () => void): void {
  assert.throws(fn, (error: unknown) => error instanceof Violation && error.kind === kind, `expected a ${kind} violation`);
}

test("election safety (§5.2): a second leader in one term is reported", () => {
  const safety = new SafetyChecker();
  assert.equal(safety.leaderSeen("n1", 3), true);
  assert.equal(safety.leaderSeen("n1", 3), false);
  safety.leaderSeen("n2", 4);
  throwsViolation("election-safety", () => safety.leaderSeen("n2", 3));
});

test("log matching (§5.3): one (index, term) with different content or a different previous term is reported", () => {
  const safety = new SafetyChecker();
  safety.persisted("n1", 0, [entry(1, 1, "x"), entry(2, 1, "y")], digestEntry);
  safety.persisted("n2", 0, [entry(1, 1, "x")], digestEntry);
  safety.persisted("n2", 1, [entry(2, 1, "y")], digestEntry); // same history, in two writes: fine
  throwsViolation("log-matching", () => safety.persisted("n3", 0, [entry(1, 1, "z")], digestEntry));
  safety.persisted("n1", 1, [entry(3, 2)], digestEntry);
  throwsViolation("log-matching", () => safety.persisted("n2", 2, [entry(3, 2)], digestEntry));
});

test("log matching: terms inside one log never decrease", () => {
  const safety = new SafetyChecker();
  throwsViolation("log-matching", () => safety.persisted("n1", 3, [entry(5, 2)], digestEntry));
});

test("leader completeness (§5.4): a leader missing an entry committed in an earlier term is reported", () => {
  const safety = new SafetyChecker();
  safety.committed([entry(4, 1)], 1);
  safety.committed([entry(5, 2)], 2);
  const log = (terms: Record<number, number>, snapshotIndex = 0) => ({ term: (i: number) => terms[i], snapshotIndex });
  safety.checkLeaderCompleteness("n1", 3, log({ 4: 1, 5: 2, 6: 3 }));
  safety.checkLeaderCompleteness("n1", 3, log({ 6: 3 }, 5)); // compacted into a snapshot: fine
  throwsViolation("leader-completeness", () => safety.checkLeaderCompleteness("n2", 3, log({ 4: 1 })));
  throwsViolation("leader-completeness", () => safety.checkLeaderCompleteness("n2", 3, log({ 4: 1, 5: 3 })));
  // A stale leader of term 2 need not hold what was committed in term 2 or later.
  safety.checkLeaderCompleteness("n3", 2, log({ 4: 1 }));
});

test("leader completeness: an old entry committed by a later leader binds only the leaders after that one", () => {
  const safety = new SafetyChecker();
  const log = (terms: Record<number, number>) => ({ term: (i: number) => terms[i], snapshotIndex: 0 });
  // The leader of term 16 commits an entry of term 9 (with its own entry after it).
  safety.committed([entry(9, 9), entry(10, 16)], 16);
  // A stale leader of term 14, elected by votes cast before term 16, may lack both.
  safety.checkLeaderCompleteness("n3", 14, log({ 9: 14 }));
  throwsViolation("leader-completeness", () => safety.checkLeaderCompleteness("n3", 17, log({ 9: 14 })));
  safety.checkLeaderCompleteness("n1", 17, log({ 9: 9, 10: 16 }));
});

test("state machine safety (§5.4.3): different entries applied at one index, gaps, and bad snapshots are reported", () => {
  const safety = new SafetyChecker();
  const a = new HashStateMachine();
  const e1 = entry(1, 1, "x");
  a.apply(e1);
  safety.applied("n1", 0, e1, digestEntry(e1), a.stateHash);
  const b = new HashStateMachine();
  b.apply(e1);
  safety.applied("n2", 0, e1, digestEntry(e1), b.stateHash);
  const other = entry(1, 1, "y");
  const c = new HashStateMachine();
  c.apply(other);
  throwsViolation("state-machine-safety", () => safety.applied("n3", 0, other, digestEntry(other), c.stateHash));
  throwsViolation("apply-order", () => safety.applied("n1", 1, entry(3, 1), 0, 0));
  safety.snapshotInstalled("n3", a.snapshot());
  throwsViolation("state-machine-safety", () => safety.snapshotInstalled("n3", { ...a.snapshot(), stateHash: a.stateHash + 1 }));
  throwsViolation("state-machine-safety", () => safety.snapshotInstalled("n3", { index: 9, stateHash: 1, commandCount: 1 }));
});

test("monotonic terms, one vote per term, monotonic commits", () => {
  const safety = new SafetyChecker();
  safety.hardStatePersisted("n1", { term: 2, vote: null, commit: 0 }, { term: 2, vote: "n2", commit: 0 });
  throwsViolation("monotonic-term", () => safety.hardStatePersisted("n1", { term: 3, vote: null, commit: 0 }, { term: 2, vote: null, commit: 0 }));
  throwsViolation("double-vote", () => safety.hardStatePersisted("n1", { term: 2, vote: "n2", commit: 0 }, { term: 2, vote: "n3", commit: 0 }));
  safety.voteGranted("n1", 5, "n2");
  safety.voteGranted("n1", 5, "n2");
  throwsViolation("double-vote", () => safety.voteGranted("n1", 5, "n3"));
  safety.commitAdvanced("n1", 4, 4);
  throwsViolation("monotonic-commit", () => safety.commitAdvanced("n1", 4, 3));
});

test("reads (§6.4): a read index below a write acknowledged before the read began is reported", () => {
  const reads = new ReadChecker();
  reads.writeAcknowledged(10);
  const mustReach = reads.readRequested();
  assert.equal(mustReach, 10);
  reads.readIndexAnswered("n1", "r1", 10, mustReach);
  throwsViolation("read-linearizability", () => reads.readIndexAnswered("n2", "r2", 9, mustReach));
  reads.readServed("n1", "r1", 12, 10);
  throwsViolation("read-linearizability", () => reads.readServed("n1", "r1", 9, 10));
});

test("liveness: a cluster that can never reach a quorum is reported", () => {
  const cluster = new Cluster({
    random: new SeededRandom(5),
    nodeCount: 3,
    spareCount: 0,
    tickMs: 10,
    tickJitterMs: 0,
    coreOptions: { electionTicks: 10, heartbeatTicks: 1 },
    network: CALM_NETWORK,
    maxDiskDelayMs: 1,
    snapshotEveryEntries: Number.POSITIVE_INFINITY,
    pipelineSends: false,
    traceSink: null,
    maxSteps: 1_000_000,
  });
  const clients = new Clients(cluster, new SeededRandom(6), "t");
  cluster.start();
  const everyLink: [string, string][] = [];
  for (const a of cluster.ids) for (const b of cluster.ids) everyLink.push([a, b]);
  cluster.partition({ kind: "halves", description: "everyone alone", cut: everyLink });
  throwsViolation("liveness", () => checkLiveness(cluster, clients, 1000, 5000));
});

test("core failures become violations: InvariantError as core-invariant, anything else as core-crash", () => {
  assert.equal(asViolation(new InvariantError("x")).kind, "core-invariant");
  assert.equal(asViolation(new TypeError("y")).kind, "core-crash");
  const v = new Violation("log-matching", "z");
  assert.equal(asViolation(v), v);
});
