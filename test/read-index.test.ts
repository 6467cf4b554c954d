/**
 * Linearizable reads without log writes (thesis §6.4): ReadIndex confirmed
 * by a quorum heartbeat round, the new-leader rule (thesis §6.4 step 1), reads
 * forwarded by followers (§6.4), batching, back-pressure, and lease reads
 * (thesis §6.4.1) with the options that make them safe.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveCoreOptions, DEFAULT_CORE_OPTIONS, type CoreOptions } from "../src/core/options.js";
import { RaftCore } from "../src/core/raft.js";
import { SeededRandom } from "../src/core/random.js";
import { EMPTY_HARD_STATE } from "../src/core/types.js";
import type { HeartbeatRequest, Message } from "../src/core/messages.js";
import { MemoryLog } from "../src/storage/memory-log.js";
import type { TestCluster } from "./support/cluster.js";
import { codeOf, electedCluster, enc, record, run } from "./support/core-harness.js";

const E = 10;

function deliver(c: TestCluster, m: Message): void {
  c.queue.splice(c.queue.indexOf(m), 1);
  c.core(m.to).step(m);
  c.processReadies();
}
const heartbeatsFrom = (msgs: readonly Message[], from: string): HeartbeatRequest[] =>
  msgs.filter((m): m is HeartbeatRequest => m.type === "heartbeat" && m.from === from);

test("thesis §6.4 a read is answered with the commit index only after a quorum acknowledged a heartbeat round", () => {
  const ids = ["a", "b", "c", "d", "e"];
  const c = electedCluster(ids, "a");
  c.propose("a", "x");
  const commit = c.core("a").status().commit;
  c.core("a").readIndex("r1");
  c.processReadies();
  assert.deepEqual(c.node("a").readStates, [], "answered before any confirmation");
  const round = heartbeatsFrom(c.queue, "a");
  assert.deepEqual(round.map((m) => m.to).sort(), ["b", "c", "d", "e"]);
  assert.ok(round.every((m) => m.readSeq > 0));
  for (const m of round) deliver(c, m);
  const answers = c.queue.filter((m) => m.type === "heartbeatResp");
  assert.equal(answers.length, 4);
  deliver(c, answers[0]!);
  assert.deepEqual(c.node("a").readStates, [], "leader + 1 of 5 is not a quorum");
  deliver(c, answers[1]!);
  assert.deepEqual(c.node("a").readStates, [{ context: "r1", index: commit, error: null }]);
  c.stabilize();
  assert.equal(c.node("a").readStates.length, 1, "a read was answered twice");
});

test("thesis §6.4 the read index is the commit index when the read arrived, not a later one", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  const commit = c.core("a").status().commit;
  c.core("a").readIndex("early");
  c.core("a").propose(enc("later"));
  c.stabilize();
  assert.ok(c.core("a").status().commit > commit);
  assert.deepEqual(c.node("a").readStates, [{ context: "early", index: commit, error: null }]);
});

test("thesis §6.4 a new leader refuses reads (EAGAIN) until it committed an entry of its own term", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.propose("a", "x");
  run(c, ["a", "b", "c"], 2);
  // b takes over; hold back everything after it becomes leader.
  c.core("a").transferLeadership("b");
  const deliverUntil = (done: () => boolean): void => {
    c.processReadies();
    while (!done()) {
      const m = c.queue.shift();
      assert.ok(m, "the network went quiet");
      c.core(m.to).step(m);
      c.processReadies();
    }
  };
  deliverUntil(() => c.core("b").status().role === "leader");
  const b = c.core("b");
  assert.ok(b.term(b.status().commit)! < b.status().term, "setup: b's no-op must not be committed yet");
  assert.equal(codeOf(() => b.readIndex("too-early")), "EAGAIN");
  // A follower's forwarded read gets the same refusal: deliver b's no-op append to c only, then c's read.
  const toC = c.queue.find((m) => m.type === "append" && m.from === "b" && m.to === "c")!;
  c.queue = c.queue.filter((m) => m !== toC);
  c.core("c").step(toC);
  c.processReadies();
  const acks = c.queue.filter((m) => m.from === "c");
  c.queue = c.queue.filter((m) => m.from !== "c"); // c's ack is delayed
  c.core("c").readIndex("fwd-early");
  c.processReadies();
  const fwd = c.queue.find((m) => m.type === "readIndex")!;
  deliver(c, fwd);
  const answer = c.queue.find((m) => m.type === "readIndexResp")!;
  deliver(c, answer);
  assert.deepEqual(c.node("c").readStates, [{ context: "fwd-early", index: -1, error: "EAGAIN" }]);
  // Once the no-op commits, reads succeed.
  c.queue.push(...acks);
  c.stabilize();
  assert.equal(b.term(b.status().commit), b.status().term);
  b.readIndex("ok");
  c.stabilize();
  assert.deepEqual(c.node("b").readStates, [{ context: "ok", index: b.status().commit, error: null }]);
});

test("thesis §6.4 a follower's read is forwarded to the leader and answered with the leader's commit index", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.propose("a", "x");
  c.propose("a", "y");
  const sent = record(c);
  c.core("b").readIndex("q");
  c.stabilize();
  const commit = c.core("a").status().commit;
  assert.deepEqual(c.node("b").readStates, [{ context: "q", index: commit, error: null }]);
  assert.deepEqual(c.node("a").readStates, [], "the answer went to the wrong node");
  const types = sent.map((m) => `${m.type}:${m.from}>${m.to}`);
  assert.ok(types.includes("readIndex:b>a"));
  assert.ok(types.includes("readIndexResp:a>b"));
  assert.ok(types.indexOf("readIndexResp:a>b") > types.findIndex((t) => t.startsWith("heartbeatResp:")), "answered before the heartbeat round");
  // A follower that knows no leader refuses at once.
  const lone = new RaftCore({ id: "z", log: new MemoryLog({ voters: ["y", "z"], outgoing: [], learners: [] }), hardState: EMPTY_HARD_STATE, random: new SeededRandom(1) });
  assert.equal(codeOf(() => lone.readIndex("nobody")), "ENOTLEADER");
});

test("thesis §6.4 a read forwarded to a node that is no longer leader is refused with ENOTLEADER", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.core("b").readIndex("late");
  c.processReadies();
  const fwd = c.queue.find((m) => m.type === "readIndex" && m.from === "b")!;
  c.queue = c.queue.filter((m) => m !== fwd);
  c.core("a").transferLeadership("c"); // a hands over before the read arrives
  c.stabilize();
  assert.equal(c.leader(), "c");
  // b heard of the new term: the leader it asked is gone, so the read fails at once.
  assert.deepEqual(c.node("b").readStates, [{ context: "late", index: -1, error: "ESTEPPEDDOWN" }]);
  // Arriving with its old term, the read is stale: a answers nothing.
  const sent = record(c);
  c.core("a").step(fwd);
  c.stabilize();
  assert.equal(sent.filter((m) => m.type === "readIndexResp").length, 0);
  // Re-addressed in a's current term (a follower that has not yet heard of the change): refused.
  c.core("a").step({ ...fwd, term: c.core("a").status().term });
  c.stabilize();
  const answers = sent.filter((m) => m.type === "readIndexResp");
  assert.deepEqual(answers.map((m) => m.type === "readIndexResp" && [m.from, m.to, m.index, m.error]), [["a", "b", -1, "ENOTLEADER"]]);
  // b no longer waits for that read: the late answer adds nothing.
  assert.equal(c.node("b").readStates.length, 1);
});

test("thesis §6.4 a forwarded read whose request was lost fails with ETIMEDOUT after three election timeouts", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.drop = (m) => m.type === "readIndex";
  c.core("b").readIndex("lost");
  c.processReadies();
  for (let t = 0; t < 3 * E - 1; t++) {
    c.tick(["a", "b", "c"]);
    c.stabilize();
  }
  assert.deepEqual(c.node("b").readStates, []);
  c.tick(["a", "b", "c"]);
  c.stabilize();
  assert.deepEqual(c.node("b").readStates, [{ context: "lost", index: -1, error: "ETIMEDOUT" }]);
});

test("thesis §6.4 a partitioned leader never answers a read, and fails it with ESTEPPEDDOWN when check-quorum deposes it", () => {
  const ids = ["a", "b", "c", "d", "e"];
  const c = electedCluster(ids, "a");
  c.isolate(["a", "b"]); // a hears b: 2 of 5
  c.core("a").readIndex("local");
  c.core("b").readIndex("forwarded");
  c.stabilize();
  let t = 0;
  while (c.core("a").status().role === "leader") {
    assert.deepEqual(c.node("a").readStates, [], `a read completed without a quorum at tick ${t}`);
    assert.deepEqual(c.node("b").readStates, []);
    assert.ok(++t <= 3 * E, "the partitioned leader never stepped down");
    c.tick(["a", "b"]);
    c.stabilize();
  }
  assert.deepEqual(c.node("a").readStates, [{ context: "local", index: -1, error: "ESTEPPEDDOWN" }]);
  assert.deepEqual(c.node("b").readStates, [{ context: "forwarded", index: -1, error: "ESTEPPEDDOWN" }]);
});

test("thesis §6.4 a deposed leader's pending read fails with ESTEPPEDDOWN when it learns of a newer term", () => {
  const c = electedCluster(["a", "b", "c"], "a", { checkQuorum: false });
  c.isolate(["a"]);
  c.core("a").readIndex("stale?");
  c.stabilize();
  for (let t = 0; t < 5 * E && c.core("b").status().role !== "leader" && c.core("c").status().role !== "leader"; t++) {
    c.tick(["b", "c"]);
    c.stabilize();
  }
  const newLeader = c.core("b").status().role === "leader" ? "b" : "c";
  assert.equal(c.core(newLeader).status().role, "leader");
  c.propose(newLeader, "newer");
  assert.equal(c.core("a").status().role, "leader", "setup: without check-quorum the old leader does not know");
  assert.deepEqual(c.node("a").readStates, []);
  c.heal();
  run(c, ["a", "b", "c"], 3);
  assert.equal(c.core("a").status().role, "follower");
  assert.deepEqual(c.node("a").readStates, [{ context: "stale?", index: -1, error: "ESTEPPEDDOWN" }]);
});

test("thesis §6.4 many reads share one heartbeat round", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  const sent = record(c);
  for (let i = 0; i < 20; i++) c.core("a").readIndex(`r${i}`);
  c.core("b").readIndex("fb"); // forwarded; arrives after the first round went out
  c.stabilize();
  const commit = c.core("a").status().commit;
  assert.deepEqual(
    c.node("a").readStates,
    Array.from({ length: 20 }, (_, i) => ({ context: `r${i}`, index: commit, error: null })),
  );
  assert.deepEqual(c.node("b").readStates, [{ context: "fb", index: commit, error: null }]);
  const rounds = new Set(heartbeatsFrom(sent, "a").map((m) => m.readSeq));
  assert.equal(heartbeatsFrom(sent, "a").length, 2 * rounds.size, "each round is one heartbeat per follower");
  assert.ok(rounds.size <= 2, `${rounds.size} heartbeat rounds for 21 reads`);
  // The 20 local reads issued together went out in one round carrying the last one's sequence.
  const readRounds = heartbeatsFrom(sent, "a").filter((m) => m.readSeq > 0);
  assert.equal(readRounds[0]!.readSeq, 20);
  assert.ok(readRounds.every((m) => m.readSeq >= 20), "a round was sent for only part of the batch");
});

test("thesis §6.4 reads beyond maxPendingReads are refused with EBUSY, locally and when forwarded", () => {
  const c = electedCluster(["a", "b", "c"], "a", { maxPendingReads: 3 });
  c.drop = (m) => m.type === "heartbeat"; // rounds never confirm
  for (let i = 0; i < 3; i++) c.core("a").readIndex(`r${i}`);
  c.stabilize();
  assert.equal(codeOf(() => c.core("a").readIndex("r3")), "EBUSY");
  c.core("b").readIndex("fwd");
  c.stabilize();
  assert.deepEqual(c.node("b").readStates, [{ context: "fwd", index: -1, error: "EBUSY" }]);
  assert.deepEqual(c.node("a").readStates, []);
  c.heal();
  run(c, ["a"], 1); // the next heartbeat round confirms the waiting reads
  assert.deepEqual(c.node("a").readStates.map((r) => r.context), ["r0", "r1", "r2"]);
  c.core("a").readIndex("r4");
  c.stabilize();
  assert.equal(c.node("a").readStates.at(-1)!.context, "r4");
});

test("thesis §6.4.1 lease reads are answered without a round while the lease holds, and need a round after it expires", () => {
  const c = electedCluster(["a", "b", "c"], "a", { readOnly: "lease" });
  const sent = record(c);
  // Right after the election no heartbeat was acknowledged: no lease yet, a round is needed.
  c.core("a").readIndex("no-lease-yet");
  c.processReadies();
  assert.deepEqual(c.node("a").readStates, []);
  c.stabilize();
  assert.equal(c.node("a").readStates.length, 1);
  run(c, ["a", "b", "c"], 1); // a heartbeat acknowledged by all
  const commit = c.core("a").status().commit;

  sent.length = 0;
  c.node("a").readStates = [];
  c.core("a").readIndex("leased");
  c.processReadies();
  assert.deepEqual(c.node("a").readStates, [{ context: "leased", index: commit, error: null }]);
  assert.deepEqual(heartbeatsFrom(sent, "a"), [], "a lease read sent a heartbeat round");

  // No more acknowledgements: the lease (90% of 10 ticks = 9 ticks from the last acknowledged send) runs out.
  const leaseTicks = Math.floor((E * 90) / 100);
  for (let t = 1; t < leaseTicks; t++) c.tick(["a"]);
  c.queue = [];
  c.node("a").readStates = [];
  c.core("a").readIndex("last-leased");
  c.processReadies();
  assert.deepEqual(c.node("a").readStates.map((r) => r.context), ["last-leased"], "the lease ended early");
  c.tick(["a"]);
  c.queue = [];
  sent.length = 0;
  c.node("a").readStates = [];
  c.core("a").readIndex("expired");
  c.processReadies();
  assert.equal(c.core("a").status().role, "leader");
  assert.deepEqual(c.node("a").readStates, [], "answered from an expired lease");
  assert.ok(heartbeatsFrom(sent, "a").some((m) => m.readSeq > 0), "no round was started for the read");
  c.stabilize();
  assert.deepEqual(c.node("a").readStates, [{ context: "expired", index: commit, error: null }]);
});

test("thesis §6.4.1 a partitioned lease holder stops answering before the other side can elect a leader", () => {
  const c = electedCluster(["a", "b", "c"], "a", { readOnly: "lease" });
  run(c, ["a", "b", "c"], 2);
  c.isolate(["a"]);
  let lastImmediate = -1;
  let newLeaderAt = -1;
  for (let t = 1; t <= 6 * E && newLeaderAt === -1; t++) {
    c.tick();
    c.stabilize();
    if (c.core("b").status().role === "leader" || c.core("c").status().role === "leader") newLeaderAt = t;
    if (c.core("a").status().role === "leader") {
      const before = c.node("a").readStates.length;
      try {
        c.core("a").readIndex(`t${t}`);
      } catch {
        // EBUSY and the like are fine: no answer
      }
      c.processReadies();
      if (c.node("a").readStates.slice(before).some((r) => r.context === `t${t}` && r.error === null)) lastImmediate = t;
    }
  }
  assert.ok(newLeaderAt !== -1, "the majority side never elected a leader");
  assert.ok(lastImmediate !== -1, "setup: the lease never served a read");
  assert.ok(lastImmediate < newLeaderAt, `the old leader served a lease read at tick ${lastImmediate}, the new leader was elected at ${newLeaderAt}`);
});

test("thesis §6.4.1/§3.10 during a leadership transfer lease reads fall back to a quorum round", () => {
  const c = electedCluster(["a", "b", "c"], "a", { readOnly: "lease" });
  run(c, ["a", "b", "c"], 1);
  c.isolate(["c"]);
  c.core("a").transferLeadership("c"); // pending: c is unreachable
  c.core("a").readIndex("during-transfer");
  c.processReadies();
  assert.deepEqual(c.node("a").readStates, [], "a lease read was served while handing leadership away");
  c.stabilize();
  assert.equal(c.node("a").readStates[0]?.context, "during-transfer");
});

test("thesis §6.4.1/§3.10 a TimeoutNow delivered after its transfer was abandoned cannot make the old leader serve a stale lease read", () => {
  // The lease assumes no other leader can be elected while it holds; a TimeoutNow
  // already sent lets one be elected at once, whenever it arrives.
  const c = electedCluster(["a", "b", "c"], "a", { readOnly: "lease" });
  run(c, ["a", "b", "c"], 1);
  c.core("a").transferLeadership("c");
  c.processReadies();
  const timeoutNow = c.queue.find((m) => m.type === "timeoutNow")!;
  assert.ok(timeoutNow, "setup: c is caught up, TimeoutNow should be sent");
  c.queue = c.queue.filter((m) => m !== timeoutNow); // the network delays it
  run(c, ["a", "b", "c"], E);
  assert.equal(c.core("a").status().leadTransferee, null, "setup: the transfer should have been abandoned");
  assert.equal(c.leader(), "a");
  // The delayed TimeoutNow arrives; a is cut off from now on (its messages are held).
  c.isolate(["a"]);
  c.core("c").step(timeoutNow);
  c.stabilize();
  assert.equal(c.core("c").status().role, "leader", "setup: the forced election should succeed with b");
  c.propose("c", "w");
  const wIndex = c.core("c").status().commit;
  assert.deepEqual(c.appliedTexts("b"), ["w"]);
  // a still believes it leads. A read that starts now must observe w (index >= wIndex), or not be answered.
  assert.equal(c.core("a").status().role, "leader");
  try {
    c.core("a").readIndex("after-w");
  } catch {
    // refusing is fine
  }
  c.processReadies();
  const answer = c.node("a").readStates.find((r) => r.context === "after-w" && r.error === null);
  assert.ok(answer === undefined || answer.index >= wIndex, `a served a stale lease read at index ${answer?.index}, but w was committed at ${wIndex}`);
});

test("resolveCoreOptions refuses readOnly \"lease\" without checkQuorum, and other bad options, with EINVAL", () => {
  assert.equal(codeOf(() => resolveCoreOptions({ readOnly: "lease", checkQuorum: false })), "EINVAL");
  assert.equal(resolveCoreOptions({ readOnly: "lease", checkQuorum: true }).readOnly, "lease");
  assert.deepEqual(resolveCoreOptions({}), DEFAULT_CORE_OPTIONS);
  assert.deepEqual(resolveCoreOptions(), DEFAULT_CORE_OPTIONS);
  const bad: [string, Partial<CoreOptions>][] = [
    ["heartbeat not below election", { electionTicks: 5, heartbeatTicks: 5 }],
    ["heartbeat above election", { electionTicks: 5, heartbeatTicks: 9 }],
    ["zero election ticks", { electionTicks: 0 }],
    ["negative election ticks", { electionTicks: -10 }],
    ["fractional election ticks", { electionTicks: 10.5 }],
    ["NaN heartbeat", { heartbeatTicks: Number.NaN }],
    ["unknown read mode", { readOnly: "fast" as unknown as CoreOptions["readOnly"] }],
    ["lease ratio 0", { leaseRatioPct: 0 }],
    ["lease ratio 100", { leaseRatioPct: 100 }],
    ["lease ratio above 100", { leaseRatioPct: 150 }],
    ["zero pending reads", { maxPendingReads: 0 }],
    ["negative catch-up margin", { catchupMargin: -1 }],
    ["zero decay gap", { priorityDecayGap: 0 }],
    ["zero inflight", { maxInflightAppends: 0 }],
    ["string where a number belongs", { maxEntriesPerAppend: "10" as unknown as number }],
  ];
  for (const [why, options] of bad) {
    assert.equal(codeOf(() => resolveCoreOptions(options)), "EINVAL", why);
  }
  // The core refuses them at construction too.
  const log = new MemoryLog({ voters: ["a"], outgoing: [], learners: [] });
  assert.equal(
    codeOf(() => new RaftCore({ id: "a", log, hardState: EMPTY_HARD_STATE, random: new SeededRandom(1), options: { readOnly: "lease", checkQuorum: false } })),
    "EINVAL",
  );
});

test("thesis §6.4.1 the read mode is chosen read by read: a lease core serves a safe read with a round; a safe core never grants a lease", () => {
  const lease = electedCluster(["a", "b", "c"], "a", { readOnly: "lease" });
  run(lease, ["a", "b", "c"], 1); // a heartbeat acknowledged by all: the lease holds
  const sent = record(lease);
  lease.core("a").readIndex("safe-on-lease-core", "safe");
  lease.processReadies();
  assert.deepEqual(lease.node("a").readStates, [], "a safe read waits for its round even within the lease");
  assert.ok(heartbeatsFrom(sent, "a").some((m) => m.readSeq > 0), "the safe read started a round");
  lease.stabilize();
  assert.deepEqual(lease.node("a").readStates.map((r) => r.context), ["safe-on-lease-core"]);
  lease.core("a").readIndex("lease-on-lease-core", "lease");
  lease.processReadies();
  assert.deepEqual(lease.node("a").readStates.map((r) => r.context), ["safe-on-lease-core", "lease-on-lease-core"], "a lease read is answered at once");

  const safe = electedCluster(["a", "b", "c"], "a");
  run(safe, ["a", "b", "c"], 1);
  safe.core("a").readIndex("lease-on-safe-core", "lease");
  safe.processReadies();
  assert.deepEqual(safe.node("a").readStates, [], "a core whose voters keep no lease promises answers only after a round");
  safe.stabilize();
  assert.deepEqual(safe.node("a").readStates.map((r) => r.context), ["lease-on-safe-core"]);
});
