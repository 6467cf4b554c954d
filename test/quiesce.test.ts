/**
 * Quiescing idle groups (CoreOptions.quiesce): an idle leader whose followers
 * hold its whole log stops heartbeating and its followers stop their election
 * timers, so a thousand idle groups cost almost nothing. Work wakes the leader;
 * the runtime's liveness watch wakes the followers of a leader that died.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { HeartbeatRequest, Message } from "../src/core/messages.js";
import type { TestCluster } from "./support/cluster.js";
import { electedCluster, enc, record, run } from "./support/core-harness.js";

const E = 10;
const ids = ["a", "b", "c"];

/** A 3-node cluster led by a, quiesced: every member is. */
function quiescedCluster(options: Parameters<typeof electedCluster>[2] = {}): TestCluster {
  const c = electedCluster(ids, "a", { quiesce: true, ...options });
  run(c, ids, 2);
  for (const id of ids) assert.equal(c.core(id).quiesced, true, `${id} quiesced`);
  return c;
}

const heartbeats = (sent: readonly Message[]): HeartbeatRequest[] => sent.filter((m): m is HeartbeatRequest => m.type === "heartbeat");

test("an idle group quiesces: no messages and no elections for many election timeouts", () => {
  const c = quiescedCluster();
  const term = c.core("a").status().term;
  const sent = record(c);
  run(c, ids, 20 * E);
  assert.deepEqual(sent, [], "nothing is sent while quiesced");
  for (const id of ids) assert.equal(c.core(id).status().term, term);
  assert.equal(c.leader(), "a");
});

test("without the option nothing quiesces", () => {
  const c = electedCluster(ids, "a");
  const sent = record(c);
  run(c, ids, 3);
  assert.equal(c.core("a").quiesced, false);
  assert.ok(heartbeats(sent).length >= 6, "heartbeats go on");
});

test("a proposal wakes the group, commits everywhere, and the group quiesces again", () => {
  const c = quiescedCluster();
  c.propose("a", "x");
  assert.equal(c.core("a").quiesced, false);
  for (const id of ids) assert.deepEqual(c.appliedTexts(id), ["x"]);
  run(c, ids, 2);
  for (const id of ids) assert.equal(c.core(id).quiesced, true);
});

test("a quiesced leader answers a read after a fresh heartbeat round, even in lease mode", () => {
  const c = quiescedCluster({ readOnly: "lease" });
  run(c, ids, 3 * E); // long past the lease of the last acknowledged heartbeat
  const sent = record(c);
  c.core("a").readIndex("r1");
  c.processReadies();
  assert.deepEqual(c.node("a").readStates, [], "the expired lease does not answer");
  c.stabilize();
  assert.deepEqual(c.node("a").readStates, [{ context: "r1", index: c.core("a").status().commit, error: null }]);
  assert.ok(heartbeats(sent).some((m) => !m.quiesce), "the read woke the leader into a heartbeat round");
});

test("a follower that lags keeps the leader awake until it catches up", () => {
  const c = electedCluster(ids, "a", { quiesce: true });
  c.drop = (m) => m.to === "c" && m.type === "append";
  c.core("a").propose(enc("x"));
  c.stabilize();
  run(c, ids, 3);
  assert.equal(c.core("a").quiesced, false, "c answers heartbeats but misses an entry");
  assert.equal(c.core("c").quiesced, false);
  c.heal();
  run(c, ids, 3);
  assert.deepEqual(c.appliedTexts("c"), ["x"]);
  for (const id of ids) assert.equal(c.core(id).quiesced, true);
});

test("a follower silent for an election timeout does not keep the leader awake, and wakes it when it returns", () => {
  const c = electedCluster(ids, "a", { quiesce: true });
  c.isolate(["c"]);
  c.propose("a", "x");
  run(c, ["a", "b"], E + 2);
  assert.equal(c.core("a").quiesced, true, "a and b quiesce without c");
  assert.equal(c.core("c").quiesced, false);
  c.heal();
  // c's election timer runs out; its pre-vote wakes the leader, whose heartbeat brings c back.
  run(c, ids, 2 * E);
  assert.equal(c.leader(), "a");
  assert.deepEqual(c.appliedTexts("c"), ["x"]);
});

test("quiesced followers of a dead leader wait for the runtime's wake, then elect within two election timeouts", () => {
  const c = quiescedCluster();
  c.isolate(["a"]);
  run(c, ["b", "c"], 10 * E);
  assert.equal(c.core("b").status().leaderId, "a", "nothing happens without a wake");
  c.core("b").wake(true);
  c.core("c").wake(true);
  let ticks = 0;
  while (![c.core("b"), c.core("c")].some((core) => core.status().role === "leader")) {
    assert.ok(ticks < 2 * E, `no new leader within ${2 * E} ticks of the wake`);
    run(c, ["b", "c"], 1);
    ticks++;
  }
});

test("a quiesced follower refuses another node's pre-vote while its leader is alive (no disruption)", () => {
  const c = quiescedCluster();
  const term = c.core("a").status().term;
  c.core("c").step({ type: "preVote", from: "b", to: "c", term: term + 1, lastIndex: 100, lastTerm: term });
  c.processReadies();
  const answers = c.queue.filter((m) => m.type === "preVoteResp" && m.from === "c");
  assert.ok(answers.every((m) => m.type === "preVoteResp" && m.reject), "no pre-vote granted");
  assert.equal(c.core("c").quiesced, true);
});

test("a leader restarted faster than the liveness watch sees is elected again: its own campaign wakes its followers", () => {
  const c = quiescedCluster();
  c.restart("a");
  run(c, ids, 4 * E);
  const leader = c.leader();
  assert.notEqual(leader, null, "a leader again, without any wake from the runtime");
  c.propose(leader!, "after");
  for (const id of ids) assert.ok(c.appliedTexts(id).includes("after"));
});

test("a leader woken because its followers died stays awake until check-quorum deposes it, however recently it heard from them", () => {
  const c = quiescedCluster();
  c.isolate(["a"]);
  c.core("a").wake(false); // the liveness watch: b's and c's processes stopped answering
  run(c, ["a"], 3 * E);
  assert.notEqual(c.core("a").status().role, "leader");
});

test("followers that die while the leader is still awake do not let it quiesce on their last answers: check-quorum deposes it", () => {
  const c = quiescedCluster();
  c.propose("a", "x"); // awake, and every follower answered just now
  assert.equal(c.core("a").quiesced, false);
  c.isolate(["a"]);
  c.core("a").wake(false); // the liveness watch reports them gone before the leader's next quiesce check
  run(c, ["a"], 3 * E);
  assert.notEqual(c.core("a").status().role, "leader");
});

test("a quiesced leader skips check-quorum, and once woken steps down when cut off", () => {
  const c = quiescedCluster();
  c.isolate(["a"]);
  run(c, ["a"], 5 * E);
  assert.equal(c.core("a").status().role, "leader", "quiesced: no check-quorum");
  c.core("a").wake(false);
  run(c, ["a"], 2 * E);
  assert.notEqual(c.core("a").status().role, "leader", "woken: check-quorum deposes it");
});
