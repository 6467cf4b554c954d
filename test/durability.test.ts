/**
 * Durability ordering (§5.1 and Figure 2: "updated on stable storage before
 * responding to RPCs"; thesis §3.8, §10.2.1): votes and append
 * acknowledgements leave the core only with, and after, the state they
 * depend on; the leader and candidate count themselves only once durable;
 * restarts lose nothing acknowledged; terms and commit are monotonic.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftError } from "../src/errors.js";
import { RaftCore } from "../src/core/raft.js";
import { SeededRandom } from "../src/core/random.js";
import type { AppendRequest, AppendResponse, Message, VoteRequest } from "../src/core/messages.js";
import { EntryType, type NodeId } from "../src/core/types.js";
import { CheckedCluster, Solo, codeOf, enc, entry, logTexts } from "./support/core-harness.js";

function voteReq(from: NodeId, to: NodeId, term: number, lastIndex = 0, lastTerm = 0): VoteRequest {
  return { type: "vote", from, to, term, lastIndex, lastTerm, force: false };
}
function append(from: NodeId, to: NodeId, term: number, prevIndex: number, prevTerm: number, entries: ReturnType<typeof entry>[], commit: number): AppendRequest {
  return { type: "append", from, to, term, prevIndex, prevTerm, entries, commit };
}
function ack(from: NodeId, to: NodeId, term: number, index: number): AppendResponse {
  return { type: "appendResp", from, to, term, reject: false, index, hintIndex: 0, hintTerm: 0 };
}
const ofType = <T extends Message["type"]>(msgs: readonly Message[], type: T): Extract<Message, { type: T }>[] =>
  msgs.filter((m) => m.type === type) as Extract<Message, { type: T }>[];

/** A leader `a` of voters a, b, c built by hand, with its no-op committed (b acknowledged it). */
function soloLeader(options = {}): Solo {
  const s = new Solo("a", { voters: ["a", "b", "c"], options: { preVote: false, ...options } });
  s.core.campaign();
  s.drain();
  s.core.step({ type: "voteResp", from: "b", to: "a", term: 1, reject: false });
  s.drain();
  assert.equal(s.core.status().role, "leader");
  s.core.step(ack("b", "a", 1, 1));
  s.drain();
  assert.equal(s.core.status().commit, 1);
  return s;
}

// ---------------------------------------------------------------- votes

test("§5.1 Figure 2: a vote grant leaves only in messagesAfterPersist, in the Ready that carries the vote", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  s.core.step(voteReq("a", "b", 3));
  assert.equal(s.core.hasReady(), true);
  const ready = s.core.ready();
  assert.deepEqual(ofType(ready.messages, "voteResp"), [], "a vote grant must not be sent before the vote is durable");
  const grants = ofType(ready.messagesAfterPersist, "voteResp");
  assert.equal(grants.length, 1);
  assert.equal(grants[0]!.reject, false);
  assert.equal(grants[0]!.term, 3);
  assert.deepEqual(ready.hardState, { term: 3, vote: "a", commit: 0 }, "the grant's Ready must carry the vote it depends on");
  s.persist(ready);
  s.core.advance(ready);
  assert.equal(s.core.hasReady(), false, "nothing left over");
});

test("§5.1 a vote refusal that adopts a newer term also waits for that term to be durable", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"], entries: [entry(1, 2)], hardState: { term: 2, vote: null, commit: 0 } });
  s.core.step(voteReq("a", "b", 4, 1, 1)); // stale log: refused, but term 4 adopted
  const ready = s.core.ready();
  assert.deepEqual(ofType(ready.messages, "voteResp"), []);
  const answers = ofType(ready.messagesAfterPersist, "voteResp");
  assert.equal(answers.length, 1);
  assert.equal(answers[0]!.reject, true);
  assert.deepEqual(ready.hardState, { term: 4, vote: null, commit: 0 });
});

test("§5.1 a vote durable before a crash is honoured after restart: no second vote in that term", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  s.core.step(voteReq("a", "b", 5));
  s.drain();
  // Crash and restart from what was persisted.
  const restarted = new RaftCore({ id: "b", log: s.log, hardState: s.hardState, random: new SeededRandom(9) });
  assert.equal(restarted.status().term, 5);
  assert.equal(restarted.status().vote, "a");
  restarted.step(voteReq("c", "b", 5));
  const ready = restarted.ready();
  const answers = ofType([...ready.messages, ...ready.messagesAfterPersist], "voteResp");
  assert.deepEqual(answers.map((m) => [m.to, m.reject]), [["c", true]], "voted twice in term 5 across a restart");
});

test("§5.2 a candidate's own vote counts only after advance() acknowledged it durable", () => {
  const s = new Solo("a", { voters: ["a", "b", "c"], options: { preVote: false } });
  s.core.campaign();
  // b's grant arrives before our own vote is on disk: 1 durable vote of 3.
  s.core.step({ type: "voteResp", from: "b", to: "a", term: 1, reject: false });
  assert.equal(s.core.status().role, "candidate", "became leader counting a vote that is not yet durable");
  const ready = s.core.ready();
  assert.deepEqual(ready.hardState, { term: 1, vote: "a", commit: 0 });
  assert.equal(ofType(ready.messages, "vote").length, 2, "vote requests need nothing durable and go out at once");
  s.persist(ready);
  s.core.advance(ready);
  assert.equal(s.core.status().role, "leader", "with its own durable vote and b's the candidate has a majority");
});

test("§5.2 a single-voter candidate becomes leader only at advance(), and not on an older Ready", () => {
  const s = new Solo("a", { voters: ["a"], options: { preVote: false } });
  // Take a Ready, then campaign while it is outstanding: acknowledging that older Ready proves nothing about the vote.
  s.core.step({ type: "heartbeat", from: "z", to: "a", term: 0, commit: 0, readSeq: 0, sentTick: 0, quiesce: false });
  const older = s.core.ready();
  s.core.campaign();
  assert.equal(s.core.status().role, "candidate");
  s.persist(older);
  s.core.advance(older);
  assert.equal(s.core.status().role, "candidate", "won on a vote that no Ready has persisted yet");
  const ready = s.core.ready();
  assert.deepEqual(ready.hardState, { term: 1, vote: "a", commit: 0 });
  s.persist(ready);
  s.core.advance(ready);
  assert.equal(s.core.status().role, "leader");
});

// ---------------------------------------------------------------- appends

test("§5.3 an append acknowledgement leaves only in messagesAfterPersist, in the Ready that carries the entries", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  const entries = [entry(1, 1, "x"), entry(2, 1, "y")];
  s.core.step(append("a", "b", 1, 0, 0, entries, 0));
  const ready = s.core.ready();
  assert.deepEqual(ofType(ready.messages, "appendResp"), [], "an acknowledgement must not precede the write");
  const acks = ofType(ready.messagesAfterPersist, "appendResp");
  assert.equal(acks.length, 1);
  assert.equal(acks[0]!.reject, false);
  assert.equal(acks[0]!.index, 2);
  assert.deepEqual(ready.entries.map((e) => [e.index, e.term]), [[1, 1], [2, 1]], "the acknowledged entries must be in the same Ready");
  assert.equal(ready.hardState?.term, 1, "the adopted term is persisted with it");
  s.persist(ready);
  s.core.advance(ready);

  // A conflicting suffix is replaced; the ack again waits for the write.
  s.core.step(append("a", "b", 2, 1, 1, [entry(2, 2, "y2"), entry(3, 2, "z")], 1));
  const r2 = s.core.ready();
  assert.deepEqual(ofType(r2.messages, "appendResp"), []);
  assert.deepEqual(ofType(r2.messagesAfterPersist, "appendResp").map((m) => m.index), [3]);
  assert.deepEqual(r2.entries.map((e) => [e.index, e.term]), [[2, 2], [3, 2]]);
  assert.deepEqual(r2.hardState, { term: 2, vote: null, commit: 1 });
});

test("§7 a snapshot acknowledgement waits for the snapshot in the same Ready", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  const snapshot = { index: 10, term: 3, conf: { voters: ["a", "b", "c"], outgoing: [], learners: [] } };
  s.core.step({ type: "snapshot", from: "a", to: "b", term: 3, snapshot });
  const ready = s.core.ready();
  assert.deepEqual(ofType(ready.messages, "appendResp"), []);
  assert.deepEqual(ofType(ready.messagesAfterPersist, "appendResp").map((m) => m.index), [10]);
  assert.deepEqual(ready.snapshot, snapshot);
});

test("§5.3 a leader counts its own log toward commitment only after advance()", () => {
  const s = soloLeader();
  const { index } = s.core.propose(enc("x"));
  assert.equal(index, 2);
  // b acknowledges before our own write is done: b alone is not a majority of 3.
  s.core.step(ack("b", "a", 1, 2));
  assert.equal(s.core.status().commit, 1, "committed counting an entry not yet durable on the leader");
  assert.equal(s.core.status().progress!["a"]!.match, 1, "the leader's own match is its durable index");
  const ready = s.core.ready();
  assert.deepEqual(ready.entries.map((e) => e.index), [2]);
  assert.deepEqual(ready.committedEntries.filter((e) => e.index === 2), [], "handed out for applying before durable");
  s.persist(ready);
  s.core.advance(ready);
  assert.equal(s.core.status().commit, 2, "the durable leader plus b is a majority");
  const next = s.core.ready();
  assert.deepEqual(next.committedEntries.map((e) => e.index), [2]);
  assert.equal(next.hardState?.commit, 2);
});

test("§5.3 a single-voter leader commits a proposal only once it is durable", () => {
  const s = new Solo("a", { voters: ["a"] });
  s.core.campaign();
  s.drain();
  assert.equal(s.core.status().role, "leader");
  assert.equal(s.core.status().commit, 1);
  s.core.propose(enc("x"));
  assert.equal(s.core.status().commit, 1);
  const ready = s.core.ready();
  assert.deepEqual(ready.committedEntries, []);
  s.persist(ready);
  s.core.advance(ready);
  assert.equal(s.core.status().commit, 2);
  assert.deepEqual(s.drain()[0]!.committedEntries.map((e) => new TextDecoder().decode(e.data)), ["x"]);
});

// ---------------------------------------------------------------- restart

test("§5.1 a follower's acknowledged entries and commit survive a restart; unacknowledged ones are simply absent", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  s.core.step(append("a", "b", 1, 0, 0, [entry(1, 1, "x"), entry(2, 1, "y")], 1));
  s.drain();
  // Crash mid-Ready: the write of entry 3 never happened, so its ack was never sent.
  s.core.step(append("a", "b", 1, 2, 1, [entry(3, 1, "z")], 2));
  const lost = s.core.ready();
  assert.equal(ofType(lost.messages, "appendResp").length, 0);
  const restarted = new RaftCore({ id: "b", log: s.log, hardState: s.hardState, random: new SeededRandom(2) });
  const st = restarted.status();
  assert.equal(st.term, 1);
  assert.equal(st.lastIndex, 2, "an acknowledged entry was lost, or an unacknowledged one appeared");
  assert.equal(st.commit, 1);
  assert.deepEqual(logTexts(s.log), ["x", "y"]);
});

test("§5.1 restarting every node from persisted state loses nothing acknowledged", () => {
  const ids = ["a", "b", "c"];
  const c = new CheckedCluster(ids);
  c.elect("a");
  for (let i = 0; i < 5; i++) c.propose("a", `v${i}`);
  const acknowledged = c.appliedTexts("a");
  assert.deepEqual(acknowledged, ["v0", "v1", "v2", "v3", "v4"]);
  const before = new Map(ids.map((id) => [id, c.core(id).status()]));

  for (const id of ids) c.restart(id);
  for (const id of ids) {
    const st = c.core(id).status();
    const old = before.get(id)!;
    assert.equal(st.term, old.term, `${id} lost its term`);
    assert.equal(st.vote, old.vote, `${id} lost its vote`);
    assert.equal(st.lastIndex, old.lastIndex, `${id} lost log entries`);
    assert.ok(st.commit >= c.node(id).hardState.commit && st.commit <= old.commit);
    assert.deepEqual(logTexts(c.node(id).log), acknowledged);
  }
  // A new election after the restart keeps every acknowledged entry (§5.4 Leader Completeness).
  for (let t = 0; t < 5 * 10 && c.leader() === null; t++) {
    c.tick();
    c.stabilize();
  }
  const leader = c.leader();
  assert.ok(leader !== null, "no leader after restart");
  c.propose(leader, "after-restart");
  for (const id of ids) assert.deepEqual(c.appliedTexts(id), [...acknowledged, "after-restart"]);
  assert.ok(c.checks > 0);
});

test("§5.1 a leader that crashes after persisting a proposal nobody acknowledged leaves every node applying the same log", () => {
  const c = new CheckedCluster(["a", "b", "c"]);
  c.elect("a");
  c.propose("a", "x");
  c.core("a").propose(enc("y"));
  c.processReadies(); // persisted on a; the appends are queued
  c.restart("a"); // drops the queued appends
  assert.deepEqual(logTexts(c.node("a").log), ["x", "y"]);
  for (let t = 0; t < 60 && c.leader() === null; t++) {
    c.tick();
    c.stabilize();
  }
  const leader = c.leader()!;
  c.propose(leader, "z");
  const applied = c.appliedTexts("a");
  for (const id of ["b", "c"]) assert.deepEqual(c.appliedTexts(id), applied);
  assert.deepEqual(applied.slice(0, 1), ["x"]);
  assert.equal(applied.at(-1), "z");
});

// ---------------------------------------------------------------- monotonic term and commit

test("§5.1 stale inputs never move a follower's term back or its commit down", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  s.core.step(append("a", "b", 3, 0, 0, [entry(1, 3), entry(2, 3), entry(3, 3)], 3));
  s.drain();
  assert.equal(s.core.status().commit, 3);
  const check = (what: string): void => {
    s.drain();
    const st = s.core.status();
    assert.equal(st.term, 3, `${what}: term moved`);
    assert.equal(st.commit, 3, `${what}: commit moved`);
    assert.equal(s.hardState.term, 3);
    assert.equal(s.hardState.commit, 3);
  };
  s.core.step(append("a", "b", 3, 0, 0, [entry(1, 3)], 1));
  check("an old, duplicated append with a lower commit");
  s.core.step({ type: "heartbeat", from: "a", to: "b", term: 3, commit: 0, readSeq: 0, sentTick: 0, quiesce: false });
  check("a heartbeat with a lower commit");
  s.core.step(append("z", "b", 2, 3, 3, [entry(4, 2)], 4));
  check("an append from an older term");
  s.core.step(voteReq("z", "b", 1, 99, 1));
  check("a vote request from an older term");
  s.core.step({ type: "snapshot", from: "a", to: "b", term: 3, snapshot: { index: 2, term: 3, conf: { voters: ["a", "b", "c"], outgoing: [], learners: [] } } });
  check("a snapshot older than the commit");
  // The old-term append is answered with our term so its sender steps down (§5.1).
  s.core.step(append("z", "b", 2, 3, 3, [], 3));
  const answers = s.drainMessages().filter((m) => m.to === "z");
  assert.ok(answers.length > 0 && answers.every((m) => m.term === 3), "a stale leader should hear the current term");
});

test("§5.1 malformed terms are refused with EINVAL and change nothing", () => {
  const s = new Solo("b", { voters: ["a", "b", "c"] });
  s.core.step(append("a", "b", 2, 0, 0, [entry(1, 2)], 1));
  s.drain();
  for (const term of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
    assert.equal(codeOf(() => s.core.step(voteReq("c", "b", term))), "EINVAL");
  }
  assert.equal(codeOf(() => s.core.step(voteReq("c", "x", 3))), "EINVAL", "a message for another node");
  assert.deepEqual(s.core.status().term, 2);
  assert.equal(s.core.hasReady(), false);
});

test("§5.1/§5.4.3 under drops, duplicates, reordering, partitions and restarts, terms and commit never go back and applied logs agree", () => {
  for (const seed of [1, 2, 3, 4]) {
    const rnd = new SeededRandom(seed * 7919);
    const ids = ["a", "b", "c", "d", "e"];
    const c = new CheckedCluster(ids);
    let proposals = 0;
    for (let step = 0; step < 1500; step++) {
      const roll = rnd.nextInt(100);
      if (roll < 30) {
        c.tick([rnd.pick(ids)]);
      } else if (roll < 75 && c.queue.length > 0) {
        // Deliver a random queued message: reordering; sometimes keep a copy (duplicate) or lose it.
        const i = rnd.nextInt(c.queue.length);
        const m = c.queue[i]!;
        if (!rnd.chance(0.15)) c.queue.splice(i, 1);
        if (!rnd.chance(0.1)) c.core(m.to).step(m);
        c.processReadies();
      } else if (roll < 88) {
        const leader = c.leader();
        if (leader !== null) {
          try {
            c.core(leader).propose(enc(`p${proposals++}`));
          } catch (err) {
            if (!(err instanceof RaftError)) throw err;
          }
          c.processReadies();
        }
      } else if (roll < 93) {
        if (rnd.chance(0.5)) c.isolate([rnd.pick(ids), rnd.pick(ids)]);
        else c.heal();
      } else if (roll < 96) {
        c.restart(rnd.pick(ids));
        c.processReadies();
      } else {
        c.heal();
        c.stabilize();
      }
      if (c.queue.length > 500) c.queue.splice(0, c.queue.length - 500);
    }
    c.heal();
    for (let t = 0; t < 100; t++) {
      c.tick();
      c.stabilize();
    }
    assert.ok(c.checks > 1000, "the invariant checks did not run");
    // State machine safety (§5.4.3): applied sequences are prefixes of one another.
    const applied = ids.map((id) => c.node(id).applied.map((e) => `${e.index}/${e.term}/${e.type === EntryType.Normal ? new TextDecoder().decode(e.data) : e.type}`));
    const longest = applied.reduce((x, y) => (y.length > x.length ? y : x));
    for (const [k, seq] of applied.entries()) assert.deepEqual(seq, longest.slice(0, seq.length), `seed ${seed}: ${ids[k]} applied a different sequence`);
    assert.ok(longest.length > 3, `seed ${seed}: the run committed almost nothing (${longest.length})`);
  }
});

