/**
 * Membership changes (thesis chapter 4): single-server changes (§4.1),
 * catching up new servers (§4.2.1), removing the leader (§4.2.2), joint
 * consensus (§4.3), learners, and the guards around concurrent changes.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TestCluster } from "./support/cluster.js";
import { bytes, deliverAll, deliverOne, normalTexts, SafetyMonitor, Tap } from "./support/log-scenarios.js";
import { RaftError, type RaftErrorCode } from "../src/errors.js";
import { EntryType, type NodeId } from "../src/core/types.js";
import type { Message } from "../src/core/messages.js";

const sorted = (ids: readonly string[]): string[] => [...ids].sort();

function voters(c: TestCluster, id: NodeId): string[] {
  return sorted(c.core(id).status().conf.voters);
}

function raftError(code: RaftErrorCode): (e: unknown) => boolean {
  return (e) => e instanceof RaftError && e.code === code;
}

function ackTo(leader: NodeId, from: readonly NodeId[], minIndex: number): (m: Message) => boolean {
  return (m) => m.type === "appendResp" && m.to === leader && from.includes(m.from) && !m.reject && m.index >= minIndex;
}

function ready3(options = {}): { c: TestCluster; tap: Tap } {
  const c = new TestCluster(["a", "b", "c"], options);
  const tap = new Tap(c);
  c.elect("a");
  assert.equal(c.leader(), "a");
  c.propose("a", "before");
  return { c, tap };
}

// ------------------------------------------------------------------ single-server changes

describe("single-server changes (thesis §4.1)", () => {
  test("thesis §4.1: adding a voter — the new server gets the log and the configuration, and commit then needs 3 of 4", () => {
    const { c, tap } = ready3();
    const d = c.addNode("d");
    assert.deepEqual(d.core.status().conf, { voters: [], outgoing: [], learners: [] });
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d");
    c.stabilize();
    const [result] = c.node("a").confResults;
    assert.equal(result!.requestId, "add-d");
    assert.equal(result!.error, null);
    const [entry] = c.node("a").log.entries(result!.index, result!.index + 1, 1e9);
    assert.equal(entry!.type, EntryType.Config);
    for (const id of ["a", "b", "c", "d"]) assert.deepEqual(voters(c, id), ["a", "b", "c", "d"], `${id}'s configuration`);
    assert.deepEqual(c.appliedTexts("d"), ["before"]);
    assert.equal(c.core("a").status().progress!["d"]!.match, c.core("a").lastIndex());
    // With 4 voters, a and b alone are not a majority.
    tap.hold = (m) => ["c", "d"].includes(m.to);
    const p = c.core("a").propose(bytes("needs-3"));
    c.stabilize();
    assert.ok(c.core("a").status().commit < p.index, "2 of 4 do not commit");
    tap.release((m) => m.to === "d");
    c.stabilize();
    assert.equal(c.core("a").status().commit, p.index, "a, b and d commit");
  });

  test("thesis §4.1: removing a voter — commit then needs a majority of the smaller configuration", () => {
    const c = new TestCluster(["a", "b", "c", "d"]);
    const tap = new Tap(c);
    c.elect("a");
    c.core("a").proposeConfChange({ voters: ["a", "b", "c"], learners: [] }, "rm-d");
    c.stabilize();
    assert.deepEqual(c.node("a").confResults.map((r) => [r.requestId, r.error]), [["rm-d", null]]);
    for (const id of ["a", "b", "c"]) assert.deepEqual(voters(c, id), ["a", "b", "c"]);
    assert.equal(c.core("a").status().progress!["d"], undefined, "the leader no longer replicates to d");
    tap.hold = (m) => m.to === "c" || m.to === "d";
    const p = c.core("a").propose(bytes("two-of-three"));
    c.stabilize();
    assert.equal(c.core("a").status().commit, p.index, "a and b are a majority of {a, b, c} (they were not of four)");
    assert.ok(!tap.held.some((m) => m.to === "d" && m.type === "append"), "nothing is sent to the removed server");
  });

  test("thesis §4.1: a configuration takes effect as soon as it is appended, before it commits, on leader and follower", () => {
    const { c, tap } = ready3();
    const index = c.core("a").lastIndex() + 1;
    tap.hold = ackTo("a", ["b", "c"], index);
    c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "rm-c");
    assert.deepEqual(voters(c, "a"), ["a", "b"], "in force on the leader at once");
    assert.ok(c.core("a").status().commit < index);
    assert.equal(c.core("a").status().progress!["c"], undefined);
    c.stabilize();
    assert.deepEqual(voters(c, "b"), ["a", "b"], "in force on b once appended");
    assert.ok(c.core("b").status().commit < index, "b has not seen it committed");
    assert.ok(c.core("a").status().commit < index);
    // Under the new configuration a needs b: c's ack alone does nothing.
    tap.release((m) => m.from === "c");
    c.stabilize();
    assert.ok(c.core("a").status().commit < index, "c is no longer counted");
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.ok(c.core("a").status().commit >= index);
  });

  test("thesis §4.1: a follower whose configuration entry is truncated away falls back to the previous configuration", () => {
    const ids = ["a", "b", "c", "d", "e"];
    const c = new TestCluster(ids, { checkQuorum: false });
    const tap = new Tap(c);
    c.elect("a");
    // a's appends reach only b, and b's answers are lost: the change stays uncommitted.
    tap.blocked = (m) => (m.from === "a" && m.to !== "b") || (m.from === "b" && m.to === "a");
    const index = c.core("a").lastIndex() + 1;
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "rm-e");
    c.stabilize();
    assert.equal(c.core("b").term(index), c.core("a").status().term);
    assert.deepEqual(voters(c, "b"), ["a", "b", "c", "d"]);
    assert.ok(c.core("b").status().commit < index);
    // a and b go down; c wins with d and e under the old configuration and overwrites index `index`.
    tap.crash(["a", "b"]);
    c.elect("c");
    assert.equal(c.leader(), "c");
    const newTerm = c.core("c").status().term;
    assert.deepEqual(voters(c, "c"), ids);
    // b comes back and is repaired.
    tap.crash(["a"]);
    c.tick(["c"]);
    c.stabilize();
    assert.equal(c.core("b").term(index), newTerm, "b's configuration entry was replaced");
    assert.deepEqual(voters(c, "b"), ids, "b falls back to the configuration before the removed entry");
  });
});

// ------------------------------------------------------------------ joint consensus

/** [a, b, c] -> [a, b, d] (two voters change): stops with the joint entry appended everywhere and every ack held. */
function jointInProgress(): { c: TestCluster; tap: Tap; joint: number } {
  const { c, tap } = ready3();
  c.addNode("d");
  const joint = c.core("a").lastIndex() + 1; // catch-up appends nothing, so the joint entry lands here
  tap.hold = ackTo("a", ["b", "c", "d"], joint);
  c.core("a").proposeConfChange({ voters: ["a", "b", "d"], learners: [] }, "swap-c-d");
  c.stabilize();
  assert.deepEqual(c.node("a").confResults.map((r) => [r.requestId, r.index, r.error]), [["swap-c-d", joint, null]]);
  return { c, tap, joint };
}

describe("joint consensus (thesis §4.3)", () => {
  test("thesis §4.3: changing two voters at once enters a joint configuration on every server", () => {
    const { c, joint } = jointInProgress();
    for (const id of ["a", "b", "c", "d"]) {
      const conf = c.core(id).status().conf;
      assert.deepEqual(sorted(conf.voters), ["a", "b", "d"], `${id} incoming`);
      assert.deepEqual(sorted(conf.outgoing), ["a", "b", "c"], `${id} outgoing`);
    }
    assert.ok(c.core("a").status().commit < joint);
    assert.equal(c.core("a").lastIndex(), joint, "nothing after the joint entry until it commits");
  });

  test("thesis §4.3: in the joint configuration the outgoing majority alone does not commit", () => {
    const { c, tap, joint } = jointInProgress();
    tap.release((m) => m.from === "c"); // {a, c}: a majority of the old voters, not of the new
    c.stabilize();
    assert.ok(c.core("a").status().commit < joint);
    tap.release((m) => m.from === "d"); // {a, d} adds a majority of the new voters
    c.stabilize();
    assert.ok(c.core("a").status().commit >= joint);
  });

  test("thesis §4.3: in the joint configuration the incoming majority alone does not commit", () => {
    const { c, tap, joint } = jointInProgress();
    tap.release((m) => m.from === "d"); // {a, d}: a majority of the new voters, not of the old
    c.stabilize();
    assert.ok(c.core("a").status().commit < joint);
    tap.release((m) => m.from === "c");
    c.stabilize();
    assert.ok(c.core("a").status().commit >= joint);
  });

  test("thesis §4.3: once the joint configuration commits, the leader appends the new one by itself and c leaves", () => {
    const { c, tap, joint } = jointInProgress();
    tap.release((m) => m.from === "b"); // {a, b} is a majority of both halves
    c.stabilize();
    assert.ok(c.core("a").status().commit >= joint);
    assert.equal(c.core("a").lastIndex(), joint + 1, "the leader appended the final configuration");
    const [leave] = c.node("a").log.entries(joint + 1, joint + 2, 1e9);
    assert.equal(leave!.type, EntryType.Config);
    assert.deepEqual(c.core("a").status().conf.outgoing, [], "the final configuration is in force once appended");
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    for (const id of ["a", "b", "d"]) {
      assert.deepEqual(c.core(id).status().conf, { voters: ["a", "b", "d"], outgoing: [], learners: [] });
      assert.ok(c.core(id).status().commit >= joint + 1);
    }
    assert.equal(c.node("a").confResults.length, 1, "leaving the joint configuration is not a second request");
    assert.equal(c.core("a").status().progress!["c"], undefined);
    const p = c.core("a").propose(bytes("after"));
    c.stabilize();
    assert.equal(c.core("a").status().commit, p.index);
    assert.deepEqual(c.appliedTexts("d"), ["before", "after"]);
  });

  test('thesis §4.3: mode "joint" goes through a joint configuration even for a single added voter', () => {
    const { c, tap } = ready3();
    c.addNode("d");
    const joint = c.core("a").lastIndex() + 1;
    tap.hold = ackTo("a", ["b", "c", "d"], joint);
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d", "joint");
    c.stabilize();
    assert.deepEqual(sorted(c.core("a").status().conf.outgoing), ["a", "b", "c"]);
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.deepEqual(c.core("a").status().conf, { voters: ["a", "b", "c", "d"], outgoing: [], learners: [] });
  });
});

// ------------------------------------------------------------------ guards

describe("one change at a time (thesis §4.1, §4.3)", () => {
  test("thesis §4.3: a second change while the joint configuration is in force is refused with EBUSY", () => {
    const { c } = jointInProgress();
    assert.throws(() => c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "second"), raftError("EBUSY"));
  });

  test("thesis §4.1: a second change while a single-server change is uncommitted is refused with EBUSY", () => {
    const { c, tap } = ready3();
    const index = c.core("a").lastIndex() + 1;
    tap.hold = ackTo("a", ["b", "c"], index);
    c.core("a").proposeConfChange({ voters: ["a", "b", "c"], learners: ["l"] }, "first");
    c.stabilize();
    assert.throws(() => c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "second"), raftError("EBUSY"));
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.doesNotThrow(() => c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "third"));
  });

  test("thesis §4.2.1: a second change while a new voter is catching up is refused with EBUSY", () => {
    const { c } = ready3();
    // d does not exist yet: it cannot catch up.
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d");
    c.stabilize();
    assert.equal(c.node("a").confResults.length, 0);
    assert.throws(() => c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "second"), raftError("EBUSY"));
  });

  test("thesis §4.1: a new leader refuses a change with EAGAIN until an entry of its term commits", () => {
    const c = new TestCluster(["a", "b", "c"]);
    const tap = new Tap(c);
    tap.hold = (m) => m.type === "appendResp";
    c.elect("a");
    assert.equal(c.leader(), "a");
    assert.throws(() => c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "early"), raftError("EAGAIN"));
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "later");
    c.stabilize();
    assert.deepEqual(voters(c, "a"), ["a", "b"]);
  });

  test("a follower refuses a change with ENOTLEADER and names the leader", () => {
    const { c } = ready3();
    assert.throws(
      () => c.core("b").proposeConfChange({ voters: ["a", "b"], learners: [] }, "x"),
      (e: unknown) => e instanceof RaftError && e.code === "ENOTLEADER" && e.leaderHint === "a",
    );
  });
});

// ------------------------------------------------------------------ learners

describe("learners (thesis §4.2.1 non-voting members)", () => {
  test("thesis §4.2.1: a learner receives the log but neither counts for commit nor votes", () => {
    const c = new TestCluster(["a", "b", "c"], {}, ["l", "m"]);
    const tap = new Tap(c);
    c.elect("a");
    c.propose("a", "x");
    assert.deepEqual(c.appliedTexts("l"), ["x"], "the learner applies the log");
    assert.deepEqual(c.core("a").status().conf.learners, ["l", "m"]);
    // Only the learners answer: a, l and m would be 3 of 5 if learners counted.
    tap.hold = (m) => m.to === "b" || m.to === "c";
    const p = c.core("a").propose(bytes("y"));
    c.stabilize();
    assert.equal(c.core("l").lastIndex(), p.index, "the learners have the entry");
    assert.equal(c.core("m").lastIndex(), p.index);
    assert.ok(c.core("a").status().commit < p.index, "the leader and two learners are not a majority of {a, b, c}");
    tap.release((m) => m.to === "b");
    c.stabilize();
    assert.equal(c.core("a").status().commit, p.index, "a and b are");
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    // A learner never campaigns, and candidates never ask it.
    tap.clear();
    c.core("l").campaign();
    c.tick(["l"], 60);
    c.stabilize();
    assert.equal(tap.count((m) => m.from === "l" && (m.type === "preVote" || m.type === "vote")), 0);
    assert.equal(c.core("l").status().role, "follower");
    c.core("b").campaign();
    c.stabilize();
    assert.ok(tap.count((m) => m.from === "b" && m.type === "preVote") > 0);
    assert.equal(tap.count((m) => m.to === "l" && (m.type === "preVote" || m.type === "vote")), 0);
  });

  test("§5.2/thesis §4.2.1: learners are not counted in an election's majority", () => {
    const c = new TestCluster(["a", "b", "c"], { checkQuorum: false }, ["l", "m"]);
    const tap = new Tap(c);
    tap.crash(["c"]);
    c.elect("a");
    assert.equal(c.leader(), "a", "a and b are 2 of the 3 voters; the silent learners do not matter");
    assert.equal(tap.count((m) => (m.to === "l" || m.to === "m") && (m.type === "preVote" || m.type === "vote")), 0);
  });

  test("thesis §4.1: a learner is promoted to voter in one step and then counts for commit", () => {
    const c = new TestCluster(["a", "b", "c"], {}, ["l"]);
    const tap = new Tap(c);
    c.elect("a");
    c.propose("a", "x");
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "l"], learners: [] }, "promote");
    c.processReadies();
    assert.equal(c.node("a").confResults.length, 1, "a caught-up learner needs no catch-up round");
    c.stabilize();
    for (const id of ["a", "b", "c", "l"]) {
      assert.deepEqual(c.core(id).status().conf, { voters: ["a", "b", "c", "l"], outgoing: [], learners: [] }, `${id}'s configuration`);
    }
    tap.hold = (m) => m.to === "c" || m.to === "l";
    const p = c.core("a").propose(bytes("needs-3"));
    c.stabilize();
    assert.ok(c.core("a").status().commit < p.index, "2 of 4 voters");
    tap.release((m) => m.to === "l");
    c.stabilize();
    assert.equal(c.core("a").status().commit, p.index, "the promoted learner's ack completes a majority");
    tap.clear();
    c.core("l").campaign();
    c.stabilize();
    assert.ok(tap.count((m) => m.from === "l" && m.type === "preVote") > 0, "a voter may campaign");
  });
});

// ------------------------------------------------------------------ catching up

describe("catching up new servers (thesis §4.2.1)", () => {
  test("thesis §4.2.1: the configuration entry is appended only once the new voter is within catchupMargin", () => {
    const c = new TestCluster(["a", "b", "c"], { catchupMargin: 5, maxEntriesPerAppend: 4 });
    c.elect("a");
    for (let i = 0; i < 30; i++) c.core("a").propose(bytes(`e${i}`));
    c.stabilize();
    c.addNode("d");
    const before = c.core("a").lastIndex();
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d");
    c.processReadies();
    assert.equal(c.node("a").confResults.length, 0, "no configuration entry while d is far behind");
    assert.equal(c.core("a").lastIndex(), before);
    assert.deepEqual(voters(c, "a"), ["a", "b", "c"]);
    const waitingMatches: number[] = [];
    let matchWhenAppended = -1;
    deliverAll(c, () => {
      const match = c.core("a").status().progress!["d"]?.match ?? 0;
      if (c.node("a").confResults.length === 0) {
        waitingMatches.push(match);
        assert.equal(c.core("a").lastIndex(), before, "nothing appended while catching up");
      } else if (matchWhenAppended < 0) {
        matchWhenAppended = match;
      }
    });
    assert.ok(waitingMatches.some((m) => m > 0 && m < before - 5), `the leader waited while d was at ${waitingMatches}`);
    assert.ok(matchWhenAppended >= before - 5, `appended with d at ${matchWhenAppended}, leader at ${before}`);
    const [result] = c.node("a").confResults;
    assert.deepEqual([result!.requestId, result!.index, result!.error], ["add-d", before + 1, null]);
    assert.deepEqual(voters(c, "d"), ["a", "b", "c", "d"]);
    assert.equal(c.appliedTexts("d").length, 30);
  });

  test("thesis §4.2.1: a new voter that cannot be reached fails the change with ECATCHUP, leaving the configuration alone", () => {
    const { c } = ready3({ electionTicks: 10 });
    // "d" is never started: everything sent to it is lost.
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d");
    c.stabilize();
    for (let i = 0; i < 10; i++) {
      c.tick(["a", "b", "c"]);
      c.stabilize();
    }
    assert.equal(c.node("a").confResults.length, 0, "one election timeout is too early to give up");
    for (let i = 0; i < 15 && c.node("a").confResults.length === 0; i++) {
      c.tick(["a", "b", "c"]);
      c.stabilize();
    }
    const [result] = c.node("a").confResults;
    assert.ok(result, "the change failed within about two election timeouts");
    assert.deepEqual([result.requestId, result.index, result.error], ["add-d", -1, "ECATCHUP"]);
    assert.match(result.message ?? "", /^d did not catch up/, "the message names the peer");
    assert.deepEqual(voters(c, "a"), ["a", "b", "c"]);
    assert.equal(c.core("a").status().progress!["d"], undefined);
    assert.equal(c.leader(), "a");
    // The way is clear for another attempt, which succeeds once d runs.
    c.addNode("d");
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d-again");
    c.stabilize();
    assert.deepEqual(c.node("a").confResults[1]!.error, null);
    assert.deepEqual(voters(c, "d"), ["a", "b", "c", "d"]);
  });

  test("thesis §4.2.1/§4.1: a server added with no configuration stays silent until it learns the membership from the leader", () => {
    const { c, tap } = ready3();
    const d = c.addNode("d");
    tap.clear();
    c.tick(["d"], 50);
    c.core("d").campaign();
    c.stabilize();
    assert.equal(tap.count((m) => m.from === "d"), 0, "a server outside any configuration never campaigns");
    assert.equal(d.core.status().role, "follower");
    c.core("a").proposeConfChange({ voters: ["a", "b", "c"], learners: ["d"] }, "learner-d");
    c.stabilize();
    assert.deepEqual(d.core.status().conf, c.core("a").status().conf);
    assert.deepEqual(d.core.status().conf.learners, ["d"]);
    assert.equal(d.core.status().leaderId, "a");
    assert.deepEqual(c.appliedTexts("d"), ["before"]);
  });
});

// ------------------------------------------------------------------ removing the leader

describe("removing the current leader (thesis §4.2.2)", () => {
  test("thesis §4.2.2: a removed leader keeps leading until the configuration without it commits, then steps down", () => {
    const { c, tap } = ready3();
    const monitor = new SafetyMonitor(c);
    const xIndex = c.core("a").lastIndex() + 1;
    const index = xIndex + 1;
    const oldTerm = c.core("a").status().term;
    tap.hold = ackTo("a", ["b", "c"], xIndex);
    c.core("a").propose(bytes("x"));
    deliverAll(c, monitor.observe);
    c.core("a").proposeConfChange({ voters: ["b", "c"], learners: [] }, "rm-a");
    deliverAll(c, monitor.observe);
    assert.deepEqual(voters(c, "a"), ["b", "c"]);
    assert.equal(c.core("a").status().role, "leader", "still managing the cluster while the change is uncommitted");
    // x (before the configuration entry) commits: the leader is still not out.
    tap.release((m) => m.type === "appendResp" && m.index < index);
    deliverAll(c, monitor.observe);
    assert.equal(c.core("a").status().commit, xIndex);
    assert.equal(c.core("a").status().role, "leader", "an earlier entry committing is no reason to step down");
    tap.release((m) => m.from === "b");
    deliverAll(c, monitor.observe);
    assert.equal(c.core("a").status().commit, xIndex, "the leader does not count itself: {b, c} must both acknowledge");
    assert.equal(c.core("a").status().role, "leader");
    tap.hold = () => false;
    tap.release();
    deliverOne(c); // c's acknowledgement of the configuration entry
    assert.ok(c.core("a").status().commit >= index);
    assert.equal(c.core("a").status().role, "follower", "stepped down as soon as it committed");
    assert.equal(c.core("a").status().term, oldTerm, "by itself, not because it saw a newer term");
    deliverAll(c, monitor.observe);
    const leader = c.leader();
    assert.ok(leader === "b" || leader === "c", `a new leader among the remaining voters (got ${leader})`);
    assert.ok(c.core(leader).status().term > oldTerm);
    assert.deepEqual(voters(c, leader), ["b", "c"]);
    const p = c.core(leader).propose(bytes("without-a"));
    deliverAll(c, monitor.observe);
    assert.equal(c.core(leader).status().commit, p.index);
    tap.clear();
    c.core("a").campaign();
    c.stabilize();
    assert.equal(tap.count((m) => m.from === "a" && (m.type === "preVote" || m.type === "vote")), 0, "the removed server never campaigns");
    assert.deepEqual(normalTexts(c.node(leader).applied), ["before", "x", "without-a"]);
  });

  test("thesis §4.2.2: a removed leader hands over at once even when its newest entry is not yet acknowledged", () => {
    const { c, tap } = ready3();
    const confIndex = c.core("a").lastIndex() + 1;
    const oldTerm = c.core("a").status().term;
    tap.hold = ackTo("a", ["b", "c"], confIndex);
    c.core("a").proposeConfChange({ voters: ["b", "c"], learners: [] }, "rm-a");
    deliverAll(c);
    c.core("a").propose(bytes("y")); // under load there is always a newest entry in flight
    deliverAll(c);
    tap.release((m) => m.type === "appendResp" && m.index === confIndex); // only the configuration entry is acknowledged
    deliverAll(c);
    assert.equal(c.core("a").status().role, "follower", "stepped down once the configuration without it committed");
    assert.equal(tap.count((m) => m.from === "a" && m.type === "timeoutNow"), 1, "and told a successor to campaign at once");
    tap.hold = () => false;
    tap.release();
    deliverAll(c);
    const leader = c.leader();
    assert.ok(leader === "b" || leader === "c", `a new leader without waiting for an election timeout (got ${leader})`);
    assert.ok(c.core(leader).status().term > oldTerm);
  });
});
