/**
 * Leader election (§5.2, §5.4.1), pre-vote (thesis §9.6), check-quorum
 * (thesis §6.2), leader stickiness (thesis §4.2.3), disruptive servers, and
 * SOFAJraft's priority election.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../src/core/random.js";
import type { Message, VoteRequest, PreVoteRequest } from "../src/core/messages.js";
import type { CoreOptions } from "../src/core/options.js";
import type { NodeId } from "../src/core/types.js";
import { TestCluster } from "./support/cluster.js";
import { CountingRandom, Solo, codeOf, electedCluster, entry, logTerms, record, run, tickUntil } from "./support/core-harness.js";

const E = 10; // the default electionTicks

function voteReq(from: NodeId, to: NodeId, term: number, lastIndex: number, lastTerm: number, force = false): VoteRequest {
  return { type: "vote", from, to, term, lastIndex, lastTerm, force };
}
function preVoteReq(from: NodeId, to: NodeId, term: number, lastIndex: number, lastTerm: number): PreVoteRequest {
  return { type: "preVote", from, to, term, lastIndex, lastTerm };
}
function voteAnswers(msgs: readonly Message[], to: NodeId): { reject: boolean; term: number }[] {
  return msgs.filter((m) => m.type === "voteResp" && m.to === to).map((m) => ({ reject: (m as { reject: boolean }).reject, term: m.term }));
}

/** Ticks a lone core until it asks for (pre)votes; returns the tick count. */
function ticksToFirstCampaign(seed: number, options: Partial<CoreOptions> = {}): number {
  const s = new Solo("a", { voters: ["a", "b", "c"], seed, options });
  for (let t = 1; t <= 4 * E; t++) {
    s.core.tick();
    if (s.drainMessages().some((m) => m.type === "preVote" || m.type === "vote")) return t;
  }
  return -1;
}

function leaderAmong(c: TestCluster, ids: NodeId[]): NodeId | null {
  const leaders = ids.filter((id) => c.core(id).status().role === "leader");
  assert.ok(leaders.length <= 1, `more than one leader among ${ids.join(",")}: ${leaders.join(",")}`);
  return leaders[0] ?? null;
}

// ---------------------------------------------------------------- timeouts

test("§5.2 randomized election timeouts: in [electionTicks, 2*electionTicks), drawn from the seeded generator", () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 60; seed++) {
    const ticks = ticksToFirstCampaign(seed);
    assert.ok(ticks >= E && ticks < 2 * E, `seed ${seed}: first campaign after ${ticks} ticks, outside [${E}, ${2 * E})`);
    // Same seed, same timeout.
    assert.equal(ticksToFirstCampaign(seed), ticks, `seed ${seed} did not replay`);
    // The timeout is the generator's first draw over [0, electionTicks), plus electionTicks.
    assert.equal(ticks, E + new SeededRandom(seed).nextInt(E), `seed ${seed}: timeout is not the seeded draw`);
    seen.add(ticks);
  }
  assert.ok(seen.size >= 5, `timeouts are not randomized: only ${[...seen].join(",")} seen over 60 seeds`);
});

test("§5.2 every new election timeout is a fresh draw in [electionTicks, 2*electionTicks) from the injected source", () => {
  const random = new CountingRandom(7);
  const s = new Solo("a", { voters: ["a", "b", "c"], random, options: { preVote: false } });
  // The timeout in force is electionTicks plus the latest draw.
  let expectedNext = E + random.values.at(-1)!;
  let elapsed = 0;
  let campaigns = 0;
  const intervals = new Set<number>();
  for (let t = 1; t <= 30 * E; t++) {
    s.core.tick();
    elapsed++;
    const asked = s.drainMessages().some((m) => m.type === "vote");
    if (asked) {
      assert.equal(elapsed, expectedNext, `campaign ${campaigns + 1} after ${elapsed} ticks, expected ${expectedNext}`);
      assert.ok(elapsed >= E && elapsed < 2 * E);
      intervals.add(elapsed);
      campaigns++;
      elapsed = 0;
      expectedNext = E + random.values.at(-1)!;
    } else {
      assert.ok(elapsed < expectedNext, `no campaign at the expected timeout ${expectedNext}`);
    }
  }
  assert.ok(campaigns >= 10, `only ${campaigns} campaigns in ${30 * E} ticks`);
  assert.ok(intervals.size >= 3, `successive timeouts are not re-randomized: ${[...intervals].join(",")}`);
  assert.ok(random.bounds.every((b) => b === E), `draws with bounds ${[...new Set(random.bounds)].join(",")}, expected only ${E}`);
  // Without pre-vote each election timeout starts a new term (§5.2).
  assert.equal(s.core.status().term, campaigns);
});

test("§5.2 a follower becomes a candidate after its election timeout, not before", () => {
  const timeout = E + new SeededRandom(3).nextInt(E);
  const s = new Solo("a", { voters: ["a", "b", "c"], seed: 3, options: { preVote: false } });
  s.core.tick(); // a first tick makes a Ready-free state
  s.drain();
  for (let t = 2; t < timeout; t++) {
    s.core.tick();
    assert.deepEqual(s.drainMessages(), [], `message sent at tick ${t}, before the timeout ${timeout}`);
    assert.equal(s.core.status().role, "follower");
  }
  s.core.tick();
  const readies = s.drain();
  const status = s.core.status();
  assert.equal(status.role, "candidate");
  assert.equal(status.term, 1);
  assert.equal(status.vote, "a", "a candidate votes for itself (§5.2)");
  const requests = readies.flatMap((r) => r.messages).filter((m): m is VoteRequest => m.type === "vote");
  assert.deepEqual(requests.map((m) => m.to).sort(), ["b", "c"]);
  for (const m of requests) {
    assert.equal(m.term, 1);
    assert.equal(m.lastIndex, 0);
    assert.equal(m.lastTerm, 0);
    assert.equal(m.force, false);
  }
  assert.deepEqual(readies.map((r) => r.hardState).filter(Boolean).at(-1), { term: 1, vote: "a", commit: 0 });
});

test("§5.2 a learner never campaigns", () => {
  const s = new Solo("l", { voters: ["a", "b", "c"], learners: ["l"] });
  for (let t = 0; t < 10 * E; t++) s.core.tick();
  assert.deepEqual(s.drainMessages(), []);
  assert.equal(s.core.status().term, 0);
  assert.equal(s.core.status().role, "follower");
});

// ---------------------------------------------------------------- votes

test("§5.2 a server grants at most one vote per term (first come, first served)", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  s.core.step(voteReq("a", "b", 1, 0, 0));
  let msgs = s.drainMessages();
  assert.deepEqual(voteAnswers(msgs, "a"), [{ reject: false, term: 1 }]);
  assert.equal(s.hardState.vote, "a");

  s.core.step(voteReq("c", "b", 1, 0, 0));
  msgs = s.drainMessages();
  assert.deepEqual(voteAnswers(msgs, "c"), [{ reject: true, term: 1 }], "a second candidate in the same term is refused");
  assert.equal(s.core.status().vote, "a");

  // A retransmitted request from the same candidate is granted again (idempotent).
  s.core.step(voteReq("a", "b", 1, 0, 0));
  assert.deepEqual(voteAnswers(s.drainMessages(), "a"), [{ reject: false, term: 1 }]);

  // A new term frees the vote (§5.1).
  s.core.step(voteReq("c", "b", 2, 0, 0));
  assert.deepEqual(voteAnswers(s.drainMessages(), "c"), [{ reject: false, term: 2 }]);
  assert.deepEqual(s.hardState, { term: 2, vote: "c", commit: 0 });
});

test("§5.4.1 a vote goes only to a candidate whose log is at least as up to date", () => {
  // b's log: terms [1, 1, 2], current term 2.
  const entries = [entry(1, 1), entry(2, 1), entry(3, 2)];
  const cases: { lastIndex: number; lastTerm: number; grant: boolean; why: string }[] = [
    { lastIndex: 10, lastTerm: 1, grant: false, why: "older last term, however long" },
    { lastIndex: 2, lastTerm: 2, grant: false, why: "same last term, shorter log" },
    { lastIndex: 3, lastTerm: 2, grant: true, why: "same last term, same length" },
    { lastIndex: 4, lastTerm: 2, grant: true, why: "same last term, longer log" },
    { lastIndex: 1, lastTerm: 3, grant: true, why: "newer last term, even if shorter" },
  ];
  for (const k of cases) {
    const s = new Solo("b", { voters: ["a", "b", "c"], entries, hardState: { term: 2, vote: null, commit: 0 } });
    s.core.step(voteReq("a", "b", 3, k.lastIndex, k.lastTerm));
    const answers = voteAnswers(s.drainMessages(), "a");
    assert.deepEqual(answers, [{ reject: !k.grant, term: 3 }], k.why);
    // Either way the higher term is adopted (§5.1); the vote is recorded only when granted.
    assert.deepEqual(s.hardState, { term: 3, vote: k.grant ? "a" : null, commit: 0 }, k.why);

    // Pre-vote applies the same check and changes nothing (thesis §9.6).
    const p = new Solo("b", { voters: ["a", "b", "c"], entries, hardState: { term: 2, vote: null, commit: 0 } });
    p.core.step(preVoteReq("a", "b", 3, k.lastIndex, k.lastTerm));
    const pre = p.drainMessages().filter((m) => m.type === "preVoteResp");
    assert.equal(pre.length, 1, k.why);
    assert.equal((pre[0] as { reject: boolean }).reject, !k.grant, `pre-vote: ${k.why}`);
    assert.equal(p.core.status().term, 2, "a pre-vote does not change the term");
    assert.equal(p.core.status().vote, null, "a pre-vote does not record a vote");
  }
});

test("§5.2 a candidate that hears from a majority becomes leader; one that hears an AppendEntries of its term steps down", () => {
  const s = new Solo("a", { voters: ["a", "b", "c"], options: { preVote: false } });
  s.core.campaign();
  s.drain();
  assert.equal(s.core.status().role, "candidate");
  s.core.step({ type: "voteResp", from: "b", to: "a", term: 1, reject: false });
  s.drain();
  assert.equal(s.core.status().role, "leader");

  const t = new Solo("a", { voters: ["a", "b", "c"], options: { preVote: false } });
  t.core.campaign();
  t.drain();
  t.core.step({ type: "heartbeat", from: "c", to: "a", term: 1, commit: 0, readSeq: 0, sentTick: 0, quiesce: false });
  t.drain();
  assert.equal(t.core.status().role, "follower");
  assert.equal(t.core.status().leaderId, "c");

  // A majority of rejections ends the candidacy at once.
  const u = new Solo("a", { voters: ["a", "b", "c"], options: { preVote: false } });
  u.core.campaign();
  u.drain();
  u.core.step({ type: "voteResp", from: "b", to: "a", term: 1, reject: true });
  u.core.step({ type: "voteResp", from: "c", to: "a", term: 1, reject: true });
  u.drain();
  assert.equal(u.core.status().role, "follower");
  assert.equal(u.core.status().term, 1);
});

test("§5.2 a split vote elects nobody in that term and a later election (new term) does", () => {
  const c = new TestCluster(["a", "b", "c", "d"], { preVote: false });
  // a and b run at once; c hears only a, d hears only b: two votes each, three needed.
  c.drop = (m) => m.type === "vote" && ((m.from === "a" && m.to === "d") || (m.from === "b" && m.to === "c"));
  c.core("a").campaign();
  c.core("b").campaign();
  c.stabilize();
  for (const id of ["a", "b", "c", "d"]) assert.notEqual(c.core(id).status().role, "leader", `${id} won a split vote`);
  assert.equal(c.core("a").status().term, 1);
  assert.equal(c.core("b").status().term, 1);
  assert.equal(c.core("c").status().vote, "a");
  assert.equal(c.core("d").status().vote, "b");

  c.heal();
  tickUntil(c, ["a", "b", "c", "d"], () => leaderAmong(c, ["a", "b", "c", "d"]) !== null, 10 * E);
  const leader = leaderAmong(c, ["a", "b", "c", "d"])!;
  assert.ok(c.core(leader).status().term >= 2, "the retry happens in a new term");
  c.propose(leader, "after-split");
  for (const id of ["a", "b", "c", "d"]) assert.deepEqual(c.appliedTexts(id), ["after-split"]);
});

// ---------------------------------------------------------------- pre-vote

test("thesis §9.6 pre-vote: a partitioned node does not raise its term and does not disrupt the cluster when it returns", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  const term = c.core("a").status().term;
  const sent = record(c);
  c.isolate(["c"]);
  run(c, ["a", "b", "c"], 20 * E);
  assert.equal(c.leader(), "a");
  assert.equal(c.core("c").status().term, term, "the isolated node raised its term");
  assert.notEqual(c.core("c").status().role, "candidate");
  assert.ok(sent.some((m) => m.type === "preVote" && m.from === "c"), "the isolated node should have kept trying (pre-vote)");
  assert.ok(!sent.some((m) => m.type === "vote"), "no real election may start");

  c.heal();
  for (let t = 0; t < 5 * E; t++) {
    c.tick();
    c.stabilize();
    assert.equal(c.leader(), "a", "the returning node disrupted the leader");
  }
  for (const id of ["a", "b", "c"]) {
    assert.equal(c.core(id).status().term, term);
    assert.equal(c.core(id).status().leaderId, "a");
  }
  c.propose("a", "x");
  assert.deepEqual(c.appliedTexts("c"), ["x"]);
});

test("thesis §9.6 control: without pre-vote and check-quorum, the same partition raises the term and deposes the leader", () => {
  // Shows that the previous test measures something: the disruption pre-vote prevents.
  const c = electedCluster(["a", "b", "c"], "a", { preVote: false, checkQuorum: false });
  const term = c.core("a").status().term;
  c.isolate(["c"]);
  run(c, ["a", "b", "c"], 5 * E);
  assert.equal(c.leader(), "a");
  assert.ok(c.core("c").status().term > term);
  c.heal();
  run(c, ["c"], 2 * E); // c campaigns again, now reachable
  assert.ok(c.core("a").status().term > term, "the leader should have seen the higher term");
});

// ---------------------------------------------------------------- check-quorum

test("thesis §6.2 check-quorum: a leader cut off from a majority steps down within an election timeout of losing contact", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.isolate(["a"]);
  let stepDownTick = -1;
  for (let t = 1; t <= 3 * E; t++) {
    c.tick(["a"]);
    c.stabilize();
    if (c.core("a").status().role !== "leader") {
      stepDownTick = t;
      break;
    }
  }
  assert.ok(stepDownTick >= E, `stepped down after ${stepDownTick} ticks, before a whole election timeout`);
  assert.ok(stepDownTick !== -1 && stepDownTick <= 2 * E, `still leader after ${3 * E} ticks without a quorum`);
  assert.equal(c.core("a").status().role, "follower");
  assert.equal(c.core("a").status().leaderId, null);
});

test("thesis §6.2 check-quorum counts a majority: a leader hearing from one of four followers steps down, from two it stays", () => {
  const ids = ["a", "b", "c", "d", "e"];
  const c = electedCluster(ids, "a");
  c.isolate(["a", "b"]); // a still hears b: 2 of 5
  tickUntil(c, ["a", "b"], () => c.core("a").status().role !== "leader", 3 * E);

  const k = electedCluster(ids, "a");
  k.isolate(["a", "b", "c"]); // 3 of 5
  for (let t = 0; t < 10 * E; t++) {
    k.tick(["a", "b", "c"]);
    k.stabilize();
  }
  assert.equal(k.core("a").status().role, "leader");
});

test("thesis §6.2 a connected leader never steps down and nobody else campaigns", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  const term = c.core("a").status().term;
  const sent = record(c);
  for (let t = 0; t < 20 * E; t++) {
    c.tick();
    c.stabilize();
  }
  assert.equal(c.leader(), "a");
  assert.equal(c.core("b").status().term, term);
  assert.ok(!sent.some((m) => m.type === "preVote" || m.type === "vote"));
});

test("thesis §4.2.3 a follower that heard from a live leader ignores (pre)vote requests until an election timeout passes", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.tick();
  c.stabilize();
  const term = c.core("b").status().term;
  const voteBefore = c.core("b").status().vote;
  const sent = record(c);
  const b = c.core("b");
  b.step(voteReq("c", "b", term + 5, 100, term + 3));
  b.step(preVoteReq("c", "b", term + 5, 100, term + 3));
  c.processReadies();
  assert.equal(b.status().term, term, "the term moved on a request the follower should ignore");
  assert.equal(b.status().vote, voteBefore);
  assert.equal(b.status().leaderId, "a");
  assert.deepEqual(sent.filter((m) => m.from === "b" && m.to === "c"), [], "the follower answered an ignored request");

  // A lone follower: within the timeout ignored, after it granted.
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  s.core.step({ type: "heartbeat", from: "a", to: "b", term: 1, commit: 0, readSeq: 0, sentTick: 0, quiesce: false });
  s.drain();
  for (let t = 1; t < E; t++) s.core.tick();
  s.core.step(voteReq("c", "b", 2, 0, 0));
  assert.deepEqual(voteAnswers(s.drainMessages(), "c"), []);
  assert.equal(s.core.status().term, 1);
  s.core.tick(); // E ticks without the leader
  s.drain();
  s.core.step(voteReq("c", "b", 2, 0, 0));
  assert.deepEqual(voteAnswers(s.drainMessages(), "c"), [{ reject: false, term: 2 }]);
});

// ---------------------------------------------------------------- old leader returns

for (const checkQuorum of [false, true]) {
  test(`§5.3/§5.4 a partitioned old leader that comes back steps down and its uncommitted entries are replaced (checkQuorum ${checkQuorum})`, () => {
    const c = electedCluster(["a", "b", "c"], "a", { checkQuorum });
    c.propose("a", "committed");
    const oldTerm = c.core("a").status().term;
    c.isolate(["a"]);
    // The old leader still takes proposals (it cannot know); they never commit.
    c.core("a").propose(new TextEncoder().encode("lost-1"));
    c.core("a").propose(new TextEncoder().encode("lost-2"));
    c.stabilize();
    const aLastBefore = c.core("a").status().lastIndex;
    tickUntil(c, ["a", "b", "c"], () => leaderAmong(c, ["b", "c"]) !== null, 20 * E);
    const newLeader = leaderAmong(c, ["b", "c"])!;
    c.propose(newLeader, "new-1");
    assert.equal(c.core("a").status().commit < aLastBefore, true, "the old leader's entries must not commit");

    c.heal();
    tickUntil(c, ["a", "b", "c"], () => c.core("a").status().leaderId === newLeader, 5 * E);
    c.propose(newLeader, "new-2");
    const a = c.core("a").status();
    assert.equal(a.role, "follower");
    assert.ok(a.term > oldTerm);
    assert.deepEqual(logTerms(c.core("a")), logTerms(c.core(newLeader)), "the old leader's log was not made equal to the new leader's");
    for (const id of ["a", "b", "c"]) {
      assert.deepEqual(c.appliedTexts(id), ["committed", "new-1", "new-2"], `${id} applied the wrong entries`);
    }
  });
}

// ---------------------------------------------------------------- removed server

for (const preVote of [true, false]) {
  test(`thesis §4.2.3 a removed server that keeps timing out does not disrupt the cluster (its preVote ${preVote})`, () => {
    const c = electedCluster(["a", "b", "c"], "a");
    c.isolate(["c"]); // c never hears of its removal
    c.core("a").proposeConfChange({ voters: ["a", "b"], learners: [] }, "remove-c");
    c.stabilize();
    run(c, ["a", "b"], 2);
    c.stabilize();
    assert.deepEqual(c.core("a").status().conf.voters, ["a", "b"]);
    assert.equal(c.core("a").status().commit, c.core("a").status().lastIndex);
    const term = c.core("a").status().term;
    c.restart("c", { preVote });
    assert.deepEqual(c.core("c").status().conf.voters, ["a", "b", "c"], "c should still believe it is a voter");
    c.heal();
    const sent = record(c);
    for (let t = 0; t < 30 * E; t++) {
      c.tick();
      c.stabilize();
      assert.equal(c.leader(), "a", `the removed server disrupted the cluster at tick ${t}`);
    }
    assert.ok(sent.some((m) => m.from === "c" && (m.type === "preVote" || m.type === "vote")), "c should have kept campaigning");
    assert.equal(c.core("a").status().term, term);
    assert.equal(c.core("b").status().term, term);
    if (preVote) assert.equal(c.core("c").status().term, term, "with pre-vote c cannot even raise its own term");
    else assert.ok(c.core("c").status().term > term);
    c.propose("a", "still-works");
    assert.deepEqual(c.appliedTexts("b"), ["still-works"]);
  });
}

// ---------------------------------------------------------------- priority

const initialTimeout = (seed: number): number => E + new SeededRandom(seed).nextInt(E);

test("SOFAJraft priority election: the highest priority node campaigns first, even with the longest timeout", () => {
  const ids = ["a", "b", "c"];
  // TestCluster seeds nodes 1, 2, 3 in order; find whose first timeout is longest and shortest.
  const timeouts = ids.map((id, i) => ({ id, t: initialTimeout(i + 1) }));
  const slowest = [...timeouts].sort((x, y) => y.t - x.t)[0]!;
  const fastest = [...timeouts].sort((x, y) => x.t - y.t)[0]!;
  assert.ok(slowest.t > fastest.t, "the seeds give equal timeouts; the test would prove nothing");

  const plain = new TestCluster(ids);
  tickUntil(plain, ids, () => plain.leader() !== null, 10 * E);
  assert.equal(plain.leader(), fastest.id, "control: without priorities the first to time out wins");

  const priorities: Record<NodeId, number> = { a: 30, b: 30, c: 30 };
  priorities[slowest.id] = 100;
  priorities[fastest.id] = 60;
  const c = new TestCluster(ids, { priorityOf: (id) => priorities[id] ?? -1 });
  const sent = record(c);
  tickUntil(c, ids, () => c.leader() !== null, 10 * E);
  assert.equal(c.leader(), slowest.id);
  const campaigners = new Set(sent.filter((m) => m.type === "preVote" || m.type === "vote").map((m) => m.from));
  assert.deepEqual([...campaigners], [slowest.id], "a lower-priority node campaigned while the top one was alive");
});

test("SOFAJraft priority election: priority 0 never campaigns; -1 (disabled) campaigns as usual", () => {
  const zero = new Solo("a", { voters: ["a", "b", "c"], options: { priorityOf: (id) => (id === "a" ? 0 : 5) } });
  for (let t = 0; t < 20 * E; t++) zero.core.tick();
  assert.deepEqual(zero.drainMessages(), []);
  assert.equal(zero.core.status().role, "follower");
  assert.equal(zero.core.status().term, 0);
  const c = new TestCluster(["a", "b", "c"], { priorityOf: (id) => ({ a: 0, b: 0, c: 5 })[id] ?? -1 });
  tickUntil(c, ["a", "b", "c"], () => c.leader() !== null, 10 * E);
  assert.equal(c.leader(), "c");
  c.isolate(["c"]);
  for (let t = 0; t < 30 * E; t++) {
    c.tick(["a", "b"]);
    c.stabilize();
    assert.notEqual(c.core("a").status().role, "leader");
    assert.notEqual(c.core("b").status().role, "leader");
  }
  assert.equal(codeOf(() => c.core("c").transferLeadership("a")), "EPERM");

  const disabled = new Solo("a", { voters: ["a", "b", "c"], seed: 4, options: { priorityOf: (id) => (id === "a" ? -1 : 100) } });
  let asked = false;
  for (let t = 0; t < 2 * E && !asked; t++) {
    disabled.core.tick();
    asked = disabled.drainMessages().some((m) => m.type === "preVote");
  }
  assert.ok(asked, "a node with priority -1 ignores others' priorities and campaigns at its timeout");
});

/**
 * SOFAJraft's rule, restated from its documentation: a node below the target
 * priority skips a timeout; every second skipped timeout the target drops by
 * max(priorityDecayGap, target/5), never below 1. Returns the timeout (1-based)
 * at which a node of `priority` first campaigns.
 */
function expectedTimeoutsBeforeRunning(priority: number, top: number, gap: number): number {
  let target = top;
  let counter = 0;
  for (let timeout = 1; timeout < 1000; timeout++) {
    if (priority >= target) return timeout;
    counter++;
    if (counter > 1) {
      target = Math.max(1, target - Math.max(gap, Math.floor(target / 5)));
      counter = 0;
    }
    if (priority >= target) return timeout;
  }
  return -1;
}

test("SOFAJraft priority election: the target priority decays by max(priorityDecayGap, target/5) until a lower-priority node runs", () => {
  const priorities: Record<NodeId, number> = { a: 100, b: 60, c: 20 };
  for (const [id, gap] of [["b", 10], ["c", 10], ["c", 25], ["b", 50]] as const) {
    const expected = expectedTimeoutsBeforeRunning(priorities[id]!, 100, gap);
    assert.ok(expected >= 2, "the case must need decay");
    const seed = 11;
    const s = new Solo(id, { voters: ["a", "b", "c"], seed, options: { priorityOf: (x) => priorities[x] ?? -1, priorityDecayGap: gap } });
    // Timeout k happens at the sum of the first k randomized timeouts (one fresh draw per timeout).
    const mirror = new SeededRandom(seed);
    const timeoutTicks: number[] = [];
    let sum = 0;
    for (let k = 0; k < 40; k++) timeoutTicks.push((sum += E + mirror.nextInt(E)));
    let campaignTick = -1;
    for (let t = 1; t <= timeoutTicks[39]! && campaignTick === -1; t++) {
      s.core.tick();
      if (s.drainMessages().some((m) => m.type === "preVote")) campaignTick = t;
    }
    const timeoutNumber = timeoutTicks.indexOf(campaignTick) + 1;
    assert.equal(timeoutNumber, expected, `${id} (priority ${priorities[id]}, gap ${gap}) ran at timeout ${timeoutNumber} (tick ${campaignTick}), expected ${expected}`);
  }
});

test("SOFAJraft priority election: with the top node down, the next priority eventually leads, before lower ones", () => {
  const priorities: Record<NodeId, number> = { a: 100, b: 60, c: 20 };
  const c = new TestCluster(["a", "b", "c"], { priorityOf: (id) => priorities[id] ?? -1 });
  c.isolate(["a"]);
  const sent = record(c);
  const ticks = tickUntil(c, ["b", "c"], () => leaderAmong(c, ["b", "c"]) !== null, 40 * 2 * E);
  assert.equal(leaderAmong(c, ["b", "c"]), "b");
  assert.ok(ticks >= 6 * E, `b ran after ${ticks} ticks, before the target could decay to its priority`);
  assert.ok(!sent.some((m) => m.from === "c" && (m.type === "preVote" || m.type === "vote")), "c campaigned before b");
  // Hearing from a leader resets the target: nobody else campaigns afterwards.
  const term = c.core("b").status().term;
  for (let t = 0; t < 20 * E; t++) {
    c.tick(["b", "c"]);
    c.stabilize();
  }
  assert.equal(c.core("b").status().role, "leader");
  assert.equal(c.core("c").status().term, term);
});
