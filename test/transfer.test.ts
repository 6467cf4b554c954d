/**
 * Leadership transfer (thesis §3.10): the leader stops taking proposals,
 * brings the target's log up to date, sends it TimeoutNow, and the target
 * campaigns at once, past the others' leader leases (thesis §4.2.3).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Message, VoteRequest } from "../src/core/messages.js";
import type { NodeId } from "../src/core/types.js";
import type { TestCluster } from "./support/cluster.js";
import { codeOf, electedCluster, enc, logTerms, record, run } from "./support/core-harness.js";

const E = 10;

function timeoutNows(sent: readonly Message[]): Message[] {
  return sent.filter((m) => m.type === "timeoutNow");
}

/** Delivers queued messages one by one (and their consequences) until `done()` holds. */
function deliverUntil(c: TestCluster, done: () => boolean, max = 10_000): void {
  c.processReadies();
  for (let n = 0; n < max; n++) {
    if (done()) return;
    const m = c.queue.shift();
    if (m === undefined) throw new Error("the network went quiet before the condition held");
    c.nodes.get(m.to)?.core.step(m);
    c.processReadies();
  }
  throw new Error("condition not reached");
}

test("thesis §3.10 TimeoutNow goes to the target only once its log matches the leader's, and the target wins", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  const term = c.core("a").status().term;
  const sent = record(c);
  c.core("a").propose(enc("x"));
  c.processReadies(); // the append to c is queued, not yet delivered
  c.core("a").transferLeadership("c");
  assert.equal(c.core("a").status().leadTransferee, "c");
  c.processReadies();
  assert.deepEqual(timeoutNows(sent), [], "TimeoutNow sent to a target that lacks entries");

  c.stabilize();
  const tn = timeoutNows(sent);
  assert.equal(tn.length, 1, "exactly one TimeoutNow");
  assert.equal(tn[0]!.to, "c");
  const lastIndex = 2;
  const ackAt = sent.findIndex((m) => m.type === "appendResp" && m.from === "c" && !m.reject && m.index >= lastIndex);
  assert.ok(ackAt !== -1 && ackAt < sent.indexOf(tn[0]!), "TimeoutNow preceded c's acknowledgement of the leader's last entry");

  assert.equal(c.leader(), "c");
  assert.equal(c.core("c").status().term, term + 1);
  assert.equal(c.core("a").status().role, "follower");
  assert.equal(c.core("a").status().leaderId, "c");
  c.propose("c", "y");
  for (const id of ["a", "b", "c"]) assert.deepEqual(c.appliedTexts(id), ["x", "y"]);
});

test("thesis §3.10 a caught-up target gets TimeoutNow at once", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  const sent = record(c);
  c.core("a").transferLeadership("b");
  c.processReadies();
  assert.deepEqual(timeoutNows(sent).map((m) => m.to), ["b"]);
  c.stabilize();
  assert.equal(c.leader(), "b");
});

test("thesis §3.10 the leader brings a target that lost appends up to date, then hands over", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.drop = (m) => m.to === "c"; // c misses three entries
  for (const text of ["x", "y", "z"]) c.propose("a", text);
  c.heal();
  assert.ok(c.core("c").status().lastIndex < c.core("a").status().lastIndex);
  c.core("a").transferLeadership("c");
  c.stabilize();
  // Heartbeats go on while the transfer is pending; the target must be caught up within the election timeout.
  for (let t = 0; t < E - 1 && c.leader() !== "c"; t++) {
    c.tick(["a"]);
    c.stabilize();
  }
  assert.equal(c.leader(), "c", "the lagging target was never caught up, so the transfer could not complete");
  // a's no-op and x, y, z from term 1, then c's own no-op of its new term.
  assert.deepEqual(logTerms(c.core("c")), [1, 1, 1, 1, 2]);
});

test("thesis §3.10/§4.2.3 the target wins even while the other voters are in their leader lease (the request is forced)", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  run(c, ["a", "b", "c"], 3); // b and c hear heartbeats: both in their lease
  const term = c.core("a").status().term;
  const sent = record(c);
  c.core("a").transferLeadership("c");
  c.stabilize();
  const votes = sent.filter((m): m is VoteRequest => m.type === "vote" && m.from === "c");
  assert.ok(votes.length > 0 && votes.every((m) => m.force), "the transfer's vote requests must be forced");
  assert.ok(!sent.some((m) => m.type === "preVote" && m.from === "c"), "TimeoutNow skips pre-vote");
  const grant = sent.find((m) => m.type === "voteResp" && m.from === "b" && m.to === "c");
  assert.ok(grant !== undefined && grant.type === "voteResp" && !grant.reject, "b, in its lease, should still grant the forced vote");
  assert.equal(c.leader(), "c");
  assert.equal(c.core("c").status().term, term + 1);
});

test("thesis §3.10 proposals and membership changes during a transfer fail with EBUSY; after it the old leader says ENOTLEADER", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.core("a").propose(enc("x"));
  c.processReadies();
  c.core("a").transferLeadership("c"); // c is behind by one entry: the transfer stays pending
  assert.equal(codeOf(() => c.core("a").propose(enc("y"))), "EBUSY");
  assert.equal(codeOf(() => c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "rm")), "EBUSY");
  assert.equal(c.core("a").status().lastIndex, 2, "a refused proposal was appended");
  c.stabilize();
  assert.equal(c.leader(), "c");
  const err = (() => {
    try {
      c.core("a").propose(enc("z"));
    } catch (e) {
      return e as { code: string; leaderHint: string | null };
    }
    return null;
  })();
  assert.equal(err?.code, "ENOTLEADER");
  assert.equal(err?.leaderHint, "c");
  c.propose("c", "z");
  assert.deepEqual(c.appliedTexts("a"), ["x", "z"]);
});

test("thesis §3.10 transfer to a learner, an unknown peer, or from a follower is refused", () => {
  const c = electedCluster(["a", "b", "c"], "a", {}, ["l"]);
  assert.equal(codeOf(() => c.core("a").transferLeadership("l")), "EINVAL");
  assert.equal(codeOf(() => c.core("a").transferLeadership("nobody")), "EINVAL");
  assert.equal(c.core("a").status().leadTransferee, null, "a refused transfer left a transferee behind");
  c.core("a").propose(enc("still-ok"));
  assert.equal(codeOf(() => c.core("b").transferLeadership("c")), "ENOTLEADER");
  // To itself: nothing to do, and no transfer left pending.
  c.core("a").transferLeadership("a");
  assert.equal(c.core("a").status().leadTransferee, null);
  c.stabilize();
  assert.equal(c.leader(), "a");
  assert.deepEqual(c.appliedTexts("l"), ["still-ok"]);
});

test("thesis §3.10 a transfer to an unreachable target is abandoned after an election timeout", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  const term = c.core("a").status().term;
  c.isolate(["c"]);
  c.core("a").transferLeadership("c");
  c.stabilize();
  for (let t = 1; t < E; t++) {
    c.tick(["a", "b"]);
    c.stabilize();
    assert.equal(c.core("a").status().leadTransferee, "c", `transfer abandoned after only ${t} ticks`);
    assert.equal(codeOf(() => c.core("a").propose(enc("no"))), "EBUSY");
  }
  c.tick(["a", "b"]);
  c.stabilize();
  assert.equal(c.core("a").status().leadTransferee, null, "transfer still pending after an election timeout");
  assert.equal(c.leader(), "a");
  assert.equal(c.core("a").status().term, term);
  c.propose("a", "resumed");
  assert.deepEqual(c.appliedTexts("b"), ["resumed"]);
});

function matchOf(c: TestCluster, leader: NodeId, id: NodeId): number {
  return c.core(leader).status().progress![id]!.match;
}

test("thesis §3.10 transferLeadership(null) picks the most up-to-date voter", () => {
  for (const best of ["b", "d"]) {
    const ids = ["a", "b", "c", "d", "e"];
    const c = electedCluster(ids, "a");
    // `best` and `helper` get entry "1" (a majority with the leader); only `best` gets entry "2".
    const helper = best === "b" ? "c" : "e";
    c.drop = (m) => m.to !== best && m.to !== helper && m.from === "a";
    c.propose("a", "1");
    c.drop = (m) => m.to !== best && m.from === "a";
    c.core("a").propose(enc("2"));
    c.stabilize();
    c.heal();
    assert.ok(matchOf(c, "a", best) > matchOf(c, "a", helper), "the setup did not make one voter most up to date");
    c.core("a").transferLeadership(null);
    assert.equal(c.core("a").status().leadTransferee, best);
    c.stabilize();
    assert.equal(c.leader(), best);
  }
});

test("thesis §3.10 transferLeadership(null) skips voters of priority 0 (SOFAJraft: never leader)", () => {
  const c = electedCluster(["a", "b", "c"], "a", { priorityOf: (id) => (id === "b" ? 0 : -1) });
  c.drop = (m) => m.to === "c" && m.from === "a";
  c.propose("a", "x"); // b is ahead of c
  c.heal();
  assert.ok(matchOf(c, "a", "b") > matchOf(c, "a", "c"));
  assert.equal(codeOf(() => c.core("a").transferLeadership("b")), "EPERM");
  c.core("a").transferLeadership(null);
  assert.equal(c.core("a").status().leadTransferee, "c");
});

test("thesis §3.10/§4.1 a transfer during a membership change is refused (EBUSY) at every phase, and the change completes", () => {
  const c = electedCluster(["a", "b", "c"], "a", { catchupMargin: 0 });
  c.propose("a", "before");
  c.addNode("d");
  c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d");
  // Phase 1: d is catching up; no configuration entry yet.
  assert.deepEqual(c.node("a").confResults, []);
  assert.equal(codeOf(() => c.core("a").transferLeadership("b")), "EBUSY");
  // Phase 2: the configuration entry is appended but not committed.
  deliverUntil(c, () => c.node("a").confResults.length > 0);
  const result = c.node("a").confResults[0]!;
  assert.equal(result.error, null);
  assert.ok(c.core("a").status().commit < result.index);
  assert.equal(codeOf(() => c.core("a").transferLeadership("b")), "EBUSY");
  assert.equal(c.core("a").status().leadTransferee, null, "a refused transfer must not start");
  // The change completes as if nothing had been asked.
  c.stabilize();
  for (const id of ["a", "b", "c", "d"]) assert.deepEqual(c.core(id).status().conf.voters, ["a", "b", "c", "d"], `${id} lacks the new configuration`);
  assert.ok(c.core("a").status().commit >= result.index);
  assert.equal(c.leader(), "a");
  // Afterwards a transfer works, to the new voter too.
  c.core("a").transferLeadership("d");
  c.stabilize();
  assert.equal(c.leader(), "d");
  c.propose("d", "after");
  for (const id of ["a", "b", "c", "d"]) assert.deepEqual(c.appliedTexts(id), ["before", "after"]);
});

test("thesis §3.10/§4.3 a transfer is refused while a joint configuration is in force, and the change completes", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.addNode("d");
  c.addNode("e");
  c.core("a").proposeConfChange({ voters: ["a", "b", "d", "e"], learners: [] }, "swap"); // two voters change: joint
  let jointSeen = false;
  c.processReadies();
  for (let n = 0; n < 10_000 && c.queue.length > 0; n++) {
    const a = c.core("a").status();
    if (a.role === "leader" && a.conf.outgoing.length > 0) {
      jointSeen = true;
      assert.equal(codeOf(() => c.core("a").transferLeadership("b")), "EBUSY", "transfer accepted in a joint configuration");
    }
    const m = c.queue.shift()!;
    c.nodes.get(m.to)?.core.step(m);
    c.processReadies();
  }
  assert.ok(jointSeen, "the change never went through a joint configuration");
  run(c, ["a", "b", "c", "d", "e"], 3);
  assert.deepEqual(c.core("a").status().conf, { voters: ["a", "b", "d", "e"], outgoing: [], learners: [] });
  assert.equal(c.leader(), "a");
  c.core("a").transferLeadership("e");
  c.stabilize();
  assert.equal(c.leader(), "e");
});

test("thesis §3.10 the old leader rejoins as a follower and the transfer is recorded once in the new term", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  const sent = record(c);
  c.core("a").transferLeadership("b");
  c.stabilize();
  run(c, ["a", "b", "c"], 3 * E);
  assert.equal(c.leader(), "b");
  assert.equal(timeoutNows(sent).length, 1, "TimeoutNow repeated");
  for (const id of ["a", "c"]) assert.equal(c.core(id).status().leaderId, "b");
  assert.equal(c.core("b").status().leadTransferee, null);
});
