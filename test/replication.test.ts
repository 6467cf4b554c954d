/**
 * Log replication (§5.3): log matching and conflict repair, fast back-off,
 * progress states and flow control, commit propagation to followers,
 * proposal back-pressure, and unit tests of the pieces underneath.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TestCluster } from "./support/cluster.js";
import {
  bytes,
  deliverAll,
  entriesOfTerms,
  entry,
  logTerms,
  normalTexts,
  SafetyMonitor,
  seedNode,
  SoloCore,
  storedEntries,
  Tap,
} from "./support/log-scenarios.js";
import { Inflights, Progress } from "../src/core/progress.js";
import { jointValue, jointVote, majorityValue, majorityVote } from "../src/core/quorum.js";
import { RaftLog } from "../src/core/raft-log.js";
import { InvariantError } from "../src/core/assert.js";
import { RaftError } from "../src/errors.js";
import { MemoryLog } from "../src/storage/memory-log.js";
import { entryBytes, type NodeId } from "../src/core/types.js";
import type { AppendRequest, AppendResponse, Message } from "../src/core/messages.js";

const ABC = { voters: ["a", "b", "c"], outgoing: [], learners: [] };

function append(fields: Omit<AppendRequest, "type" | "from" | "to"> & { from?: NodeId; to?: NodeId }): AppendRequest {
  return { type: "append", from: "a", to: "b", ...fields };
}

function appendResponses(ms: readonly Message[]): AppendResponse[] {
  return ms.filter((m): m is AppendResponse => m.type === "appendResp");
}

const isAppend = (m: Message): m is AppendRequest => m.type === "append";
const carriesEntries = (m: Message): m is AppendRequest => m.type === "append" && m.entries.length > 0;

// ------------------------------------------------------------------ follower side of AppendEntries

describe("§5.3 AppendEntries on the follower", () => {
  test("§5.3: a follower rejects an append whose (prevIndex, prevTerm) it does not hold, and keeps its log", () => {
    const b = new SoloCore("b", ABC, [1, 1, 2], { term: 2 });
    const ready = b.step(append({ term: 3, prevIndex: 3, prevTerm: 3, entries: [entry(4, 3)], commit: 0 }))!;
    assert.equal(appendResponses(ready.messages).length, 0, "an answer to an append waits for persistence");
    const [resp] = appendResponses(ready.messagesAfterPersist);
    assert.ok(resp);
    assert.equal(resp.reject, true);
    assert.equal(resp.index, 3, "the rejection names the prevIndex it refused");
    assert.deepEqual([resp.hintIndex, resp.hintTerm], [3, 2], "hint: our last index with term <= prevTerm");
    assert.deepEqual(logTerms(b.core), [1, 1, 2]);
    assert.equal(b.log.lastIndex(), 3);
  });

  test("§5.3: a follower whose log is too short rejects with its last index as the hint", () => {
    const b = new SoloCore("b", ABC, [1, 1], { term: 1 });
    const ready = b.step(append({ term: 3, prevIndex: 9, prevTerm: 3, entries: [], commit: 0 }))!;
    const [resp] = appendResponses(ready.messagesAfterPersist);
    assert.deepEqual([resp!.reject, resp!.index, resp!.hintIndex, resp!.hintTerm], [true, 9, 2, 1]);
  });

  test("§5.3: a conflicting suffix is deleted and the leader's entries appended", () => {
    const b = new SoloCore("b", ABC, [1, 1, 2, 2, 2], { term: 2 });
    const ready = b.step(append({ term: 3, prevIndex: 2, prevTerm: 1, entries: [entry(3, 3), entry(4, 3)], commit: 0 }))!;
    assert.deepEqual(logTerms(b.core), [1, 1, 3, 3], "entry 5 of term 2 went with the conflict at 3");
    assert.deepEqual(ready.entries.map((e) => [e.index, e.term]), [[3, 3], [4, 3]], "the Ready asks to persist the new suffix");
    assert.deepEqual(storedEntries(b.log).map((e) => e.term), [1, 1, 3, 3], "the stored log matches after persisting");
    const [resp] = appendResponses(ready.messagesAfterPersist);
    assert.deepEqual([resp!.reject, resp!.index], [false, 4]);
  });

  test("§5.3: an append whose entries are already present truncates nothing (a delayed duplicate)", () => {
    const b = new SoloCore("b", ABC, [1, 1, 1, 1], { term: 1 });
    const ready = b.step(append({ term: 1, prevIndex: 1, prevTerm: 1, entries: [entry(2, 1)], commit: 0 }))!;
    assert.deepEqual(logTerms(b.core), [1, 1, 1, 1], "entries 3 and 4 survive");
    assert.equal(ready.entries.length, 0, "nothing new to persist");
    const [resp] = appendResponses(ready.messagesAfterPersist);
    assert.deepEqual([resp!.reject, resp!.index], [false, 2], "acknowledges only what the append covered");
  });

  test("§5.3: commitIndex = min(leaderCommit, index of last new entry) — unverified entries are not committed", () => {
    const b = new SoloCore("b", ABC, [1, 1, 2, 2, 2], { term: 2 });
    // The leader (term 3) says commit 5 but only vouches for entries up to 2.
    let ready = b.step(append({ term: 3, prevIndex: 2, prevTerm: 1, entries: [], commit: 5 }));
    assert.equal(b.core.status().commit, 2, "entries 3..5 of term 2 may differ from the leader's");
    assert.deepEqual(ready!.committedEntries.map((e) => e.index), [1, 2]);
    // Now it vouches for 3 (term 2 matches): commit moves to 3, not 5.
    ready = b.step(append({ term: 3, prevIndex: 3, prevTerm: 2, entries: [], commit: 5 }));
    assert.equal(b.core.status().commit, 3);
    assert.deepEqual(ready!.committedEntries.map((e) => e.index), [3]);
  });

  test("§5.3: a follower never commits past its own log when the leader's commit is ahead", () => {
    const b = new SoloCore("b", ABC, [1], { term: 1 });
    b.step(append({ term: 1, prevIndex: 1, prevTerm: 1, entries: [entry(2, 1), entry(3, 1)], commit: 10 }));
    assert.equal(b.core.status().commit, 3);
    assert.equal(b.core.status().lastIndex, 3);
  });
});

describe("§5.1 stale terms", () => {
  test("§5.1: an append or heartbeat of a stale term is answered with the current term, even without pre-vote and check-quorum", () => {
    // b is no voter in its own configuration, so it never campaigns: the leader hears of b's term only from this answer.
    const b = new SoloCore("b", { voters: ["a", "c", "d"], outgoing: [], learners: [] }, [1, 1], { term: 5 }, { preVote: false, checkQuorum: false });
    const stale: Message[] = [
      append({ term: 3, prevIndex: 2, prevTerm: 1, entries: [entry(3, 3)], commit: 2 }),
      { type: "heartbeat", from: "a", to: "b", term: 3, commit: 2, readSeq: 1, sentTick: 0, quiesce: false },
    ];
    for (const m of stale) {
      const ready = b.step(m);
      assert.ok(ready, `b answers the stale ${m.type}`);
      const [resp] = appendResponses(ready.messages);
      assert.ok(resp, `b answers the stale ${m.type} with an appendResp`);
      assert.deepEqual([resp.to, resp.term, resp.reject], ["a", 5, true]);
      assert.equal(b.log.lastIndex(), 2, "and appends nothing");
    }
  });
});

// ------------------------------------------------------------------ cluster-level repair

describe("§5.3 conflict repair in a cluster", () => {
  test("§5.3 log matching: a new leader repairs a divergent and a short follower until all logs are identical", () => {
    const c = new TestCluster(["a", "b", "c"]);
    seedNode(c, "a", [1, 1, 2, 3, 3], { term: 3, commit: 2 });
    seedNode(c, "b", [1, 1, 2, 2, 2, 2], { term: 3, commit: 2 });
    seedNode(c, "c", [1, 1], { term: 3, commit: 2 });
    const monitor = new SafetyMonitor(c);
    c.core("a").campaign();
    deliverAll(c, monitor.observe);
    assert.equal(c.leader(), "a");
    const leaderTerms = logTerms(c.core("a"));
    assert.deepEqual(leaderTerms.slice(0, 5), [1, 1, 2, 3, 3], "a leader never overwrites its own entries");
    assert.equal(leaderTerms.length, 6, "plus the no-op of the new term");
    for (const id of ["b", "c"]) {
      assert.deepEqual(logTerms(c.core(id)), leaderTerms, `${id}'s log equals the leader's`);
      assert.deepEqual(storedEntries(c.node(id).log), storedEntries(c.node("a").log), `${id}'s stored entries equal the leader's`);
      assert.equal(c.core(id).status().commit, 6);
    }
    // b's term-2 entries at 4..6 never committed and are gone.
    assert.equal(c.core("b").term(4), 3);
    assert.ok(monitor.checks > 5);
  });

  test("§5.3 log matching: if two logs hold an entry with the same index and term, they agree on every entry before it", () => {
    const c = new TestCluster(["a", "b", "c", "d", "e"]);
    seedNode(c, "a", [1, 1, 2, 2, 4, 4], { term: 4 });
    seedNode(c, "b", [1, 1, 2, 3, 3, 3, 3], { term: 4 });
    seedNode(c, "c", [1, 1, 2, 2], { term: 4 });
    seedNode(c, "d", [1, 1, 2, 2, 2], { term: 4 });
    seedNode(c, "e", [], { term: 4 });
    c.elect("a");
    assert.equal(c.leader(), "a");
    const ids = ["a", "b", "c", "d", "e"];
    for (const x of ids) {
      for (const y of ids) {
        const lx = logTerms(c.core(x));
        const ly = logTerms(c.core(y));
        for (let i = Math.min(lx.length, ly.length) - 1; i >= 0; i--) {
          if (lx[i] === ly[i]) {
            assert.deepEqual(lx.slice(0, i + 1), ly.slice(0, i + 1), `${x} and ${y} agree at ${i + 1} but not before`);
            break;
          }
        }
      }
      assert.deepEqual(logTerms(c.core(x)), [1, 1, 2, 2, 4, 4, 5]);
    }
  });
});

// ------------------------------------------------------------------ fast back-off

describe("fast back-off with the (hintIndex, hintTerm) hint (§5.3)", () => {
  test("§5.3: a follower with a long run of a conflicting term costs one rejection, not one per entry", () => {
    const c = new TestCluster(["a", "b", "c"]);
    // Leader: 1 1 1 4 4 4 4 4 4 4 ; b holds 12 entries of terms 2 and 3 the leader never had.
    seedNode(c, "a", [1, 1, 1, 4, 4, 4, 4, 4, 4, 4], { term: 4, commit: 3 });
    seedNode(c, "b", [1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3], { term: 4, commit: 3 });
    seedNode(c, "c", [1, 1, 1, 4, 4, 4, 4, 4, 4, 4], { term: 4, commit: 3 });
    const tap = new Tap(c);
    c.elect("a");
    assert.equal(c.leader(), "a");
    const rejections = tap.count((m) => m.type === "appendResp" && m.from === "b" && m.reject);
    assert.equal(rejections, 1, "the hint lets the leader skip all of term 2 in one round trip");
    const appendsToB = tap.sent.filter((m): m is AppendRequest => isAppend(m) && m.to === "b");
    assert.equal(appendsToB[0]!.prevIndex, 10, "first probe at the leader's last index");
    assert.equal(appendsToB[1]!.prevIndex, 3, "second probe right where the logs agree");
    assert.deepEqual(logTerms(c.core("b")), logTerms(c.core("a")));
    assert.equal(c.core("b").status().commit, 11);
  });

  test("§5.3: each round trip skips a whole term on both sides (two conflicting terms, two rejections)", () => {
    const c = new TestCluster(["a", "b", "c"]);
    // The leader has a run of term 2 the follower lacks; the follower has a run of term 3 the leader lacks.
    seedNode(c, "a", [1, 2, 2, 2, 2, 2, 5], { term: 5, commit: 1 });
    seedNode(c, "b", [1, 3, 3, 3, 3, 3, 3, 3], { term: 5, commit: 1 });
    seedNode(c, "c", [1, 2, 2, 2, 2, 2, 5], { term: 5, commit: 1 });
    const tap = new Tap(c);
    c.elect("a");
    const rejections = tap.sent.filter((m) => m.type === "appendResp" && m.from === "b" && m.reject);
    assert.equal(rejections.length, 2, "one round trip per conflicting term instead of one per entry (6)");
    const probes = tap.sent.filter((m): m is AppendRequest => isAppend(m) && m.to === "b").map((m) => m.prevIndex);
    assert.deepEqual(probes.slice(0, 3), [7, 6, 1]);
    assert.deepEqual(logTerms(c.core("b")), [1, 2, 2, 2, 2, 2, 5, 6]);
  });

  test("§5.3: a follower far behind is found in one rejection", () => {
    const c = new TestCluster(["a", "b", "c"]);
    const long = Array.from({ length: 40 }, () => 2);
    seedNode(c, "a", [1, ...long], { term: 2, commit: 1 });
    seedNode(c, "b", [1, ...long], { term: 2, commit: 1 });
    seedNode(c, "c", [1], { term: 2, commit: 1 });
    const tap = new Tap(c);
    c.elect("a");
    assert.equal(tap.count((m) => m.type === "appendResp" && m.from === "c" && m.reject), 1);
    assert.equal(c.core("c").status().lastIndex, 42);
  });
});

// ------------------------------------------------------------------ progress states

describe("progress states probe -> replicate -> snapshot (§5.3, §7)", () => {
  test("§5.3: a follower is probed until an append succeeds, then replicated to; a lost follower that comes back is sent a snapshot (§7)", () => {
    const c = new TestCluster(["a", "b", "c"]);
    const tap = new Tap(c);
    tap.isolate(["b"]);
    c.elect("a");
    assert.equal(c.leader(), "a");
    let pr = c.core("a").status().progress!;
    assert.equal(pr["b"]!.state, "probe", "no answer from b yet: its match is unknown");
    assert.equal(pr["c"]!.state, "replicate");
    // A probe is one append at a time: more proposals send nothing new to b.
    const before = tap.count((m) => isAppend(m) && m.to === "b");
    c.propose("a", "p1");
    c.propose("a", "p2");
    assert.equal(tap.count((m) => isAppend(m) && m.to === "b"), before, "a paused probe sends nothing");
    tap.heal();
    c.tick(["a"]); // a heartbeat round: b answers, the probe resumes
    c.stabilize();
    pr = c.core("a").status().progress!;
    assert.equal(pr["b"]!.state, "replicate");
    assert.equal(pr["b"]!.match, c.core("a").lastIndex());
    assert.deepEqual(normalTexts(c.node("b").applied), ["p1", "p2"]);

    // b goes away; the leader moves on and compacts past what b has.
    tap.isolate(["b"]);
    for (let i = 0; i < 5; i++) c.propose("a", `q${i}`);
    const a = c.node("a");
    const snapIndex = a.core.status().commit;
    a.log.compact({ index: snapIndex, term: a.core.term(snapIndex)!, conf: a.core.confAt(snapIndex) });
    tap.heal();
    tap.hold = (m) => m.type === "snapshot";
    c.propose("a", "after"); // b rejects this append; the leader finds b's next entry compacted
    assert.equal(c.core("a").status().progress!["b"]!.state, "snapshot");
    assert.equal(tap.held.length, 1);
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    pr = c.core("a").status().progress!;
    assert.equal(pr["b"]!.state, "replicate", "after the snapshot lands, replication resumes");
    assert.equal(pr["b"]!.match, c.core("a").lastIndex());
  });
});

describe("probe and replicate on a network that reorders", () => {
  test("a follower goes back to pipelining at most once per tick: late answers from an old window keep it probed until the next tick", () => {
    const c = new TestCluster(["a", "b", "c"], { maxEntriesPerAppend: 1 });
    const tap = new Tap(c);
    c.elect("a");
    const state = (): string => c.core("a").status().progress!["b"]!.state;
    assert.equal(state(), "replicate");
    tap.hold = (m) => m.to === "b";
    tap.clear();
    for (let i = 0; i < 6; i++) c.propose("a", `e${i}`);
    const window = tap.held.filter(carriesEntries);
    assert.equal(window.length, 6, "six single-entry appends in flight to b");
    const deliver = (m: AppendRequest): void => {
      tap.release((held) => held === m);
      c.stabilize();
    };
    deliver(window[2]!); // arrives before the two it follows: b rejects it
    assert.equal(state(), "probe");
    c.tick(["a"]); // b went to replicate in the election's tick
    deliver(window[0]!); // its answer proves a match: back to pipelining, in this tick
    assert.equal(state(), "replicate");
    deliver(window[4]!); // another early one: rejected again
    assert.equal(state(), "probe");
    deliver(window[1]!); // a late answer in the same tick: the match moves, the follower stays probed
    assert.equal(state(), "probe");
    assert.equal(c.core("a").status().progress!["b"]!.match, window[1]!.entries[0]!.index);
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.equal(c.core("b").status().lastIndex, c.core("a").lastIndex(), "probed one append at a time, b still catches up");
    c.tick(["a"]);
    c.stabilize();
    assert.equal(state(), "replicate", "in a later tick an answer switches it back");
  });

  test("a rejection overtaken by a later acknowledgement is stale: its hint lies below the match, and the follower stays pipelined", () => {
    const c = new TestCluster(["a", "b", "c"], { maxEntriesPerAppend: 1 });
    const tap = new Tap(c);
    c.elect("a");
    const progress = () => c.core("a").status().progress!["b"]!;
    const before = c.core("b").status().lastIndex;
    tap.hold = (m) => m.to === "b";
    tap.clear();
    for (let i = 0; i < 6; i++) c.propose("a", `e${i}`);
    const window = tap.held.filter(carriesEntries);
    tap.hold = (m) => m.to === "b" || (m.type === "appendResp" && m.from === "b" && m.reject);
    tap.release((m) => m === window[4]); // arrives early: b rejects it, and the rejection is slow
    c.stabilize();
    const [rejection] = tap.held.filter((m): m is AppendResponse => m.type === "appendResp");
    assert.ok(rejection, "b rejected the early append");
    assert.deepEqual([rejection.index, rejection.hintIndex], [window[4]!.prevIndex, before], "rejected past a gap; hint: b's last index then");
    tap.release((m) => m === window[0] || m === window[1]);
    c.stabilize();
    assert.equal(progress().match, before + 2, "the two appends after the gap were acknowledged first");
    tap.release((m) => m === rejection);
    c.stabilize();
    assert.equal(progress().state, "replicate", "a rejection older than the match does not send b back to probe");
    assert.equal(progress().next, window[5]!.entries[0]!.index + 1, "nor does it rewind what was sent");
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.equal(c.core("b").status().lastIndex, c.core("a").lastIndex(), "b catches up");
  });
});

// ------------------------------------------------------------------ flow control

function silentFollowerCluster(options: Record<string, number>): { c: TestCluster; tap: Tap } {
  const c = new TestCluster(["a", "b", "c"], options);
  const tap = new Tap(c);
  c.elect("a");
  assert.equal(c.core("a").status().progress!["b"]!.state, "replicate");
  tap.hold = (m) => m.to === "b"; // b goes silent: nothing reaches it, so nothing is acknowledged
  tap.clear();
  return { c, tap };
}

describe("pipelining and its bounds (§5.3; thesis §10.2.2 batching and pipelining)", () => {
  test("§5.3: at most maxInflightAppends appends are outstanding to a silent follower; one ack opens one slot", () => {
    const { c, tap } = silentFollowerCluster({ maxInflightAppends: 3, maxEntriesPerAppend: 1 });
    for (let i = 0; i < 10; i++) c.propose("a", `e${i}`);
    const outstanding = tap.held.filter(carriesEntries);
    assert.equal(outstanding.length, 3, "three appends in flight, the window is full");
    assert.ok(outstanding.every((m) => m.entries.length === 1));
    assert.equal(normalTexts(c.node("c").applied).length, 10, "c, which answers, got everything");
    // Deliver the first held append to b: its ack frees one slot, and exactly one new append goes out.
    tap.release((m) => m === outstanding[0]);
    c.stabilize();
    assert.equal(tap.held.filter(carriesEntries).length, 3, "two left plus one new");
    assert.equal(tap.held.filter(carriesEntries)[2]!.entries[0]!.index, outstanding[2]!.entries[0]!.index + 1, "the window slides by one");
    // Let everything through: b catches up.
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.equal(c.core("b").status().lastIndex, c.core("a").lastIndex());
  });

  test("§5.3: bytes in flight to a silent follower stop at maxInflightBytes", () => {
    const payload = "x".repeat(100); // 124 bytes with the per-entry allowance
    const perEntry = 100 + 24;
    const { c, tap } = silentFollowerCluster({ maxInflightBytes: 300, maxInflightAppends: 100 });
    for (let i = 0; i < 10; i++) c.propose("a", payload);
    const outstanding = tap.held.filter(carriesEntries);
    const inflightBytes = outstanding.reduce((sum, m) => sum + m.entries.reduce((s, e) => s + entryBytes(e), 0), 0);
    assert.equal(outstanding.length, 3, "124 + 124 < 300, the third passes it and fills the window");
    assert.ok(inflightBytes >= 300 && inflightBytes < 300 + perEntry, `in flight ${inflightBytes} bytes: over the limit by less than one entry`);
    assert.equal(normalTexts(c.node("c").applied).length, 10);
  });

  test("§5.3: the in-flight byte limit also caps the size of a batched append", () => {
    const { c, tap } = silentFollowerCluster({ maxInflightBytes: 300, maxInflightAppends: 100 });
    const a = c.core("a");
    for (let i = 0; i < 10; i++) a.propose(bytes("y".repeat(100)));
    c.stabilize();
    const outstanding = tap.held.filter(carriesEntries);
    assert.deepEqual(outstanding.map((m) => m.entries.length), [2, 1], "248 bytes then a full window");
  });
});

describe("per-message limits (§5.3; thesis §10.2.2 batching)", () => {
  test("§5.3: every append carries at most maxEntriesPerAppend entries", () => {
    const c = new TestCluster(["a", "b", "c"], { maxEntriesPerAppend: 3 });
    const tap = new Tap(c);
    c.elect("a");
    tap.clear();
    for (let i = 0; i < 20; i++) c.core("a").propose(bytes(`e${i}`));
    c.stabilize();
    const appends = tap.sent.filter((m): m is AppendRequest => isAppend(m) && m.to === "b" && m.entries.length > 0);
    assert.ok(appends.every((m) => m.entries.length <= 3), `sizes ${appends.map((m) => m.entries.length)}`);
    assert.equal(appends.reduce((n, m) => n + m.entries.length, 0), 20);
    assert.equal(appends.length, 7, "20 entries in batches of 3 need 7 appends");
    assert.deepEqual(normalTexts(c.node("b").applied), Array.from({ length: 20 }, (_, i) => `e${i}`));
  });

  test("§5.3: every append carries at most maxBytesPerAppend bytes of entries, but always at least one entry", () => {
    const c = new TestCluster(["a", "b", "c"], { maxBytesPerAppend: 200 });
    const tap = new Tap(c);
    c.elect("a");
    tap.clear();
    for (let i = 0; i < 9; i++) c.core("a").propose(bytes("z".repeat(50))); // 74 bytes each
    c.core("a").propose(bytes("w".repeat(500))); // larger than the limit on its own
    c.stabilize();
    const appends = tap.sent.filter((m): m is AppendRequest => isAppend(m) && m.to === "b" && m.entries.length > 0);
    const sizes = appends.map((m) => m.entries.reduce((s, e) => s + entryBytes(e), 0));
    for (const m of appends) {
      const size = m.entries.reduce((s, e) => s + entryBytes(e), 0);
      assert.ok(size <= 200 || m.entries.length === 1, `an append of ${m.entries.length} entries has ${size} bytes`);
    }
    assert.deepEqual(appends.map((m) => m.entries.length), [2, 2, 2, 2, 1, 1], `sizes ${sizes}`);
    assert.equal(c.core("b").status().commit, c.core("a").lastIndex());
  });
});

// ------------------------------------------------------------------ follower commit safety

describe("follower commit (§5.3)", () => {
  test("§5.3: while its log is repaired, a follower never commits an entry the leader does not have", () => {
    const c = new TestCluster(["a", "b", "c"]);
    seedNode(c, "a", [1, 1, 3], { term: 3, commit: 2 });
    seedNode(c, "b", [1, 1, 2, 2, 2, 2], { term: 3, commit: 2 });
    seedNode(c, "c", [1, 1, 3], { term: 3, commit: 2 });
    const tap = new Tap(c);
    tap.isolate(["b"]);
    c.elect("a");
    for (let i = 0; i < 4; i++) c.propose("a", `v${i}`);
    assert.equal(c.core("a").status().commit, 8);
    tap.heal();
    const monitor = new SafetyMonitor(c);
    const check = (): void => {
      monitor.observe();
      const b = c.core("b");
      const commit = b.status().commit;
      for (let i = 1; i <= commit; i++) assert.equal(b.term(i), c.core("a").term(i), `b committed ${i} with a term the leader does not have`);
    };
    c.tick(["a"]); // heartbeats carry min(match, commit) = 0 to b: nothing to commit yet
    deliverAll(c, check);
    const heartbeatsToB = tap.sent.filter((m) => m.type === "heartbeat" && m.to === "b");
    assert.ok(heartbeatsToB.length > 0);
    assert.ok(heartbeatsToB.every((m) => m.type === "heartbeat" && m.commit <= 2), "a heartbeat never announces more than b is known to match");
    assert.equal(c.core("b").status().commit, 8);
    assert.deepEqual(logTerms(c.core("b")), logTerms(c.core("a")));
  });
});

describe("retries (§5.3)", () => {
  test("§5.3: the leader retries appends lost on the way to replicating followers (\"the leader retries AppendEntries RPCs indefinitely\")", () => {
    const c = new TestCluster(["a", "b", "c"]);
    const tap = new Tap(c);
    c.elect("a");
    assert.equal(c.core("a").status().progress!["b"]!.state, "replicate");
    tap.isolate(["a"]); // every append of the next two proposals is lost
    const p1 = c.core("a").propose(bytes("lost-1"));
    const p2 = c.core("a").propose(bytes("lost-2"));
    c.stabilize();
    assert.ok(c.core("a").status().commit < p1.index);
    tap.heal();
    // No new proposals: only heartbeats (and whatever the leader resends) flow.
    for (let i = 0; i < 3 * 10; i++) {
      c.tick(["a", "b", "c"]);
      c.stabilize();
    }
    assert.equal(c.leader(), "a");
    assert.equal(c.core("a").status().commit, p2.index, "the lost entries are resent and commit");
    assert.deepEqual(normalTexts(c.node("b").applied), ["lost-1", "lost-2"]);
  });
});

// ------------------------------------------------------------------ back-pressure

describe("proposal back-pressure", () => {
  test("EBUSY once uncommitted proposals pass maxUncommittedBytes; accepted again after they commit", () => {
    const c = new TestCluster(["a", "b", "c"], { maxUncommittedBytes: 500 });
    const tap = new Tap(c);
    c.elect("a");
    tap.hold = (m) => m.from === "a"; // nothing the leader sends arrives yet: nothing commits
    const a = c.core("a");
    const accepted: number[] = [];
    let error: unknown = null;
    for (let i = 0; i < 10; i++) {
      try {
        accepted.push(a.propose(bytes("x".repeat(100))).index); // 124 bytes each
      } catch (e) {
        error = e;
        break;
      }
    }
    c.stabilize();
    assert.equal(accepted.length, 4, "4 * 124 = 496 fits, a fifth would be 620");
    assert.ok(error instanceof RaftError);
    assert.equal(error.code, "EBUSY");
    assert.equal(a.lastIndex(), accepted[3], "the refused proposal was not appended");
    assert.ok(a.status().commit < accepted[0]!);
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.equal(a.status().commit, accepted[3]);
    assert.doesNotThrow(() => a.propose(bytes("x".repeat(100))), "the budget is free again once committed");
  });

  test("a new leader counts the entries it inherited uncommitted against maxUncommittedBytes", () => {
    const c = new TestCluster(["a", "b", "c"], { maxUncommittedBytes: 300, checkQuorum: false });
    c.elect("a");
    c.drop = (m) => m.type === "appendResp"; // the entries reach b and c, but nothing commits
    for (let i = 0; i < 2; i++) c.core("a").propose(bytes("x".repeat(100)));
    c.stabilize();
    assert.equal(c.core("b").lastIndex(), c.core("a").lastIndex(), "setup: b has a's uncommitted entries");
    c.drop = (m) => m.type === "appendResp" || m.from === "a" || m.to === "a"; // a is cut off too
    c.queue = c.queue.filter((m) => !c.drop(m));
    c.elect("b");
    assert.equal(c.core("b").status().role, "leader");
    // 2 * 124 inherited bytes: one more 124-byte proposal would pass 300.
    assert.throws(() => c.core("b").propose(bytes("y".repeat(100))), (e: unknown) => e instanceof RaftError && e.code === "EBUSY");
    c.drop = (m) => m.from === "a" || m.to === "a";
    c.tick(["b", "c"]); // a heartbeat round lets c acknowledge: the inherited entries commit with b's no-op
    c.stabilize();
    assert.equal(c.core("b").status().commit, c.core("b").lastIndex());
    assert.doesNotThrow(() => c.core("b").propose(bytes("y".repeat(100))));
  });

  test("a single proposal larger than maxUncommittedBytes is accepted when nothing else is pending", () => {
    const c = new TestCluster(["a", "b", "c"], { maxUncommittedBytes: 100 });
    c.elect("a");
    const big = c.core("a").propose(bytes("x".repeat(1000)));
    assert.throws(() => c.core("a").propose(bytes("y")), (e: unknown) => e instanceof RaftError && e.code === "EBUSY");
    c.stabilize();
    assert.equal(c.core("a").status().commit, big.index);
  });
});

// ------------------------------------------------------------------ units: Inflights and Progress

describe("Inflights", () => {
  test("counts appends and bytes, frees acknowledged ones in order", () => {
    const f = new Inflights();
    f.add(3, 100);
    f.add(5, 50);
    f.add(9, 10);
    assert.deepEqual([f.count, f.bytes], [3, 160]);
    f.freeUpTo(4);
    assert.deepEqual([f.count, f.bytes], [2, 60], "3 is acknowledged, 5 is not");
    f.freeUpTo(5);
    assert.deepEqual([f.count, f.bytes], [1, 10]);
    f.freeUpTo(2);
    assert.deepEqual([f.count, f.bytes], [1, 10], "a stale ack frees nothing");
    f.freeUpTo(100);
    assert.deepEqual([f.count, f.bytes], [0, 0]);
  });

  test("is full by count or by bytes", () => {
    const f = new Inflights();
    f.add(1, 10);
    f.add(2, 10);
    assert.equal(f.isFull(3, 100), false);
    assert.equal(f.isFull(2, 100), true, "count limit");
    assert.equal(f.isFull(3, 20), true, "byte limit reached exactly");
    assert.equal(f.isFull(3, 21), false);
    f.reset();
    assert.deepEqual([f.count, f.bytes, f.isFull(1, 1)], [0, 0, false]);
  });

  test("in-flight indexes must grow", () => {
    const f = new Inflights();
    f.add(5, 1);
    assert.throws(() => f.add(5, 1), InvariantError);
    assert.throws(() => f.add(4, 1), InvariantError);
  });

  test("stays correct across many add/free cycles (internal compaction)", () => {
    const f = new Inflights();
    let expectedBytes = 0;
    const live: [number, number][] = [];
    for (let i = 1; i <= 500; i++) {
      f.add(i, i % 7);
      live.push([i, i % 7]);
      expectedBytes += i % 7;
      if (i % 3 === 0) {
        const upTo = i - 2;
        while (live.length > 0 && live[0]![0] <= upTo) expectedBytes -= live.shift()![1];
        f.freeUpTo(upTo);
      }
      assert.equal(f.count, live.length);
      assert.equal(f.bytes, expectedBytes);
    }
  });
});

describe("Progress", () => {
  test("probe sends one append at a time; replicate pipelines until the window is full", () => {
    const pr = new Progress(11);
    assert.equal(pr.state, "probe");
    assert.equal(pr.isPaused(2, 1000), false);
    pr.sentEntries(12, 48, 2);
    assert.equal(pr.isPaused(2, 1000), true, "a probe is out");
    assert.equal(pr.next, 11, "a probe does not advance next");
    assert.equal(pr.maybeUpdate(12), true);
    pr.becomeReplicate(0);
    assert.deepEqual([pr.state, pr.match, pr.next], ["replicate", 12, 13]);
    pr.sentEntries(14, 10, 2);
    assert.equal(pr.next, 15, "replicate advances next optimistically");
    assert.equal(pr.isPaused(2, 1000), false);
    pr.sentEntries(15, 10, 1);
    assert.equal(pr.isPaused(2, 1000), true, "two appends in flight");
    pr.maybeUpdate(14);
    pr.inflights.freeUpTo(14);
    assert.equal(pr.isPaused(2, 1000), false);
  });

  test("maybeUpdate ignores stale acknowledgements and never lowers next", () => {
    const pr = new Progress(5);
    assert.equal(pr.maybeUpdate(7), true);
    assert.deepEqual([pr.match, pr.next], [7, 8]);
    assert.equal(pr.maybeUpdate(6), false);
    assert.deepEqual([pr.match, pr.next], [7, 8]);
  });

  test("maybeDecreaseTo in probe: only the outstanding probe's rejection counts, the hint is followed, never below match + 1", () => {
    const pr = new Progress(11);
    pr.match = 3;
    pr.sentEntries(10, 0, 0);
    assert.equal(pr.maybeDecreaseTo(8, 2), false, "rejects prevIndex 8, but the probe out was at 10: stale");
    assert.equal(pr.next, 11);
    assert.equal(pr.maybeDecreaseTo(10, 6), true);
    assert.equal(pr.next, 7, "jump straight past the hint");
    assert.equal(pr.isPaused(1, 1), false, "the probe answered, the next may go");
    assert.equal(pr.maybeDecreaseTo(6, 0), true);
    assert.equal(pr.next, 4, "never below match + 1");
  });

  test("maybeDecreaseTo in replicate: a rejection at or below match is stale, else fall back to match + 1", () => {
    const pr = new Progress(1);
    pr.maybeUpdate(5);
    pr.becomeReplicate(0);
    pr.sentEntries(9, 40, 4);
    assert.equal(pr.maybeDecreaseTo(5, 0), false);
    assert.equal(pr.next, 10);
    assert.equal(pr.maybeDecreaseTo(7, 6), true);
    assert.equal(pr.next, 6);
  });

  test("maybeDecreaseTo in replicate: a rejection whose hint is below match answers an append older than the match, and is stale", () => {
    const pr = new Progress(1);
    pr.maybeUpdate(5);
    pr.becomeReplicate(0);
    pr.sentEntries(9, 40, 4);
    assert.equal(pr.maybeDecreaseTo(7, 4), false, "the follower held only 4 when it answered; it acknowledged 5 since");
    assert.deepEqual([pr.state, pr.next], ["replicate", 10]);
    assert.equal(pr.maybeDecreaseTo(7, 5), true, "a hint at the match may be fresh: the append after it was lost");
    assert.equal(pr.next, 6);
  });

  test("the window halves at each fresh rejection in replicate and grows by one per acknowledgement", () => {
    const pr = new Progress(1);
    pr.maybeUpdate(2);
    pr.becomeReplicate(0);
    for (let last = 3; last <= 10; last++) pr.sentEntries(last, 10, 1);
    assert.equal(pr.isPaused(8, 1e9), true, "the configured bound: 8 in flight");
    assert.equal(pr.isPaused(256, 1e9), false, "no window yet beyond the configured bound");
    assert.equal(pr.maybeDecreaseTo(5, 4), true, "a fresh rejection: the follower holds 4, acknowledged 2");
    assert.equal(pr.windowAppends, 4, "half of the 8 that were in flight");
    pr.becomeProbe();
    pr.maybeUpdate(4);
    pr.becomeReplicate(1);
    assert.equal(pr.windowAppends, 5, "the probe's acknowledgement grew it by one");
    for (let last = 5; last <= 9; last++) {
      assert.equal(pr.isPaused(256, 1e9), false);
      pr.sentEntries(last, 10, 1);
    }
    assert.equal(pr.isPaused(256, 1e9), true, "5 in flight fill a window of 5, well under the configured 256");
    pr.maybeUpdate(5);
    pr.inflights.freeUpTo(5); // as the leader does with an acknowledgement in replicate
    assert.deepEqual([pr.windowAppends, pr.inflights.count, pr.isPaused(256, 1e9)], [6, 4, false], "one acknowledgement frees a slot and adds one");
    const windows: number[] = [];
    for (let i = 0; i < 3; i++) {
      assert.equal(pr.maybeDecreaseTo(7, 5), true);
      windows.push(pr.windowAppends);
    }
    assert.deepEqual(windows, [2, 1, 1], "half of the 4 in flight, then halved again, never below one");
  });

  test("snapshot state pauses; becomeProbe after a snapshot resumes after it", () => {
    const pr = new Progress(50);
    pr.match = 3;
    pr.becomeSnapshot(40);
    assert.equal(pr.state, "snapshot");
    assert.equal(pr.isPaused(100, 1e9), true);
    pr.becomeProbe();
    assert.deepEqual([pr.state, pr.next, pr.pendingSnapshot], ["probe", 41, 0]);
    const failed = new Progress(50);
    failed.match = 3;
    failed.becomeSnapshot(40);
    failed.pendingSnapshot = 0; // what reportSnapshot(peer, false) does
    failed.becomeProbe();
    assert.equal(failed.next, 4, "a failed snapshot resumes after the match");
  });

  test("becomeProbe from replicate drops the window and restarts at match + 1", () => {
    const pr = new Progress(1);
    pr.maybeUpdate(4);
    pr.becomeReplicate(0);
    pr.sentEntries(8, 10, 4);
    pr.becomeProbe();
    assert.deepEqual([pr.state, pr.next, pr.inflights.count, pr.inflights.bytes], ["probe", 5, 0, 0]);
  });
});

// ------------------------------------------------------------------ units: quorum

describe("quorum arithmetic (§5.3 commit by majority; thesis §4.3 joint majorities)", () => {
  const set = (...ids: string[]): Set<string> => new Set(ids);
  const values = (m: Record<string, number>) => (id: string): number => m[id] ?? 0;
  const votes = (m: Record<string, boolean>) => (id: string): boolean | undefined => m[id];

  test("§5.3: majorityValue is the highest value a majority has reached", () => {
    assert.equal(majorityValue(set("a"), values({ a: 7 })), 7);
    assert.equal(majorityValue(set("a", "b", "c"), values({ a: 5, b: 3, c: 1 })), 3);
    assert.equal(majorityValue(set("a", "b", "c"), values({ a: 1, b: 9, c: 9 })), 9);
    assert.equal(majorityValue(set("a", "b", "c", "d"), values({ a: 5, b: 4, c: 2, d: 1 })), 2, "3 of 4 are needed");
    assert.equal(majorityValue(set("a", "b", "c", "d", "e"), values({ a: 5, b: 4, c: 3, d: 2, e: 1 })), 3);
    assert.equal(majorityValue(set(), values({})), Number.MAX_SAFE_INTEGER, "an empty half constrains nothing");
  });

  test("thesis §4.3: jointValue needs both majorities", () => {
    const v = values({ a: 10, b: 10, c: 1, d: 1, e: 10 });
    assert.equal(jointValue(set("a", "b", "c"), set(), v), 10);
    assert.equal(jointValue(set("a", "b", "c"), set("c", "d", "e"), v), 1, "the outgoing half has only e at 10");
    assert.equal(jointValue(set("c", "d", "e"), set("a", "b", "c"), v), 1);
    assert.equal(jointValue(set("a", "b", "e"), set("a", "b", "c"), v), 10);
  });

  test("§5.2: majorityVote is won, lost or pending", () => {
    const three = set("a", "b", "c");
    assert.equal(majorityVote(three, votes({ a: true })), "pending");
    assert.equal(majorityVote(three, votes({ a: true, b: true })), "won");
    assert.equal(majorityVote(three, votes({ a: true, b: false })), "pending");
    assert.equal(majorityVote(three, votes({ a: false, b: false })), "lost");
    const four = set("a", "b", "c", "d");
    assert.equal(majorityVote(four, votes({ a: true, b: true })), "pending");
    assert.equal(majorityVote(four, votes({ a: true, b: true, c: false, d: false })), "lost", "a tie is not a majority");
    assert.equal(majorityVote(four, votes({ a: true, b: true, c: true })), "won");
    assert.equal(majorityVote(set(), votes({})), "won");
  });

  test("thesis §4.3: jointVote is won only when both halves win, lost when either loses", () => {
    const inc = set("a", "b", "c");
    const out = set("c", "d", "e");
    assert.equal(jointVote(inc, out, votes({ a: true, b: true })), "pending", "incoming won, outgoing undecided");
    assert.equal(jointVote(inc, out, votes({ a: true, b: true, d: false, e: false })), "lost");
    assert.equal(jointVote(inc, out, votes({ a: true, b: true, d: true })), "pending", "the outgoing half has one of two");
    assert.equal(jointVote(inc, out, votes({ a: true, b: true, d: true, e: true })), "won");
    assert.equal(jointVote(inc, out, votes({ c: true, d: true })), "pending");
    assert.equal(jointVote(inc, out, votes({ c: true, a: true, d: true })), "won");
    assert.equal(jointVote(inc, set(), votes({ a: true, b: true })), "won");
  });
});

// ------------------------------------------------------------------ units: RaftLog

function raftLog(terms: number[], committed = 0): { log: RaftLog; storage: MemoryLog } {
  const storage = new MemoryLog(ABC);
  storage.append(entriesOfTerms(terms));
  return { log: new RaftLog(storage, committed, 0), storage };
}

describe("RaftLog", () => {
  test("§5.3: findConflict finds the first new or conflicting entry", () => {
    const { log } = raftLog([1, 1, 2, 2]);
    assert.equal(log.findConflict([]), 0);
    assert.equal(log.findConflict(entriesOfTerms([1, 1, 2, 2])), 0, "all present");
    assert.equal(log.findConflict(entriesOfTerms([1, 2], 2)), 0, "a matching middle slice");
    assert.equal(log.findConflict(entriesOfTerms([2, 2, 3], 3)), 5, "5 is new");
    assert.equal(log.findConflict(entriesOfTerms([1, 3, 3], 2)), 3, "3 conflicts");
    assert.equal(log.findConflict(entriesOfTerms([4], 1)), 1);
  });

  test("§5.3: findConflictByTerm returns the last index at or below `index` with term <= `term`", () => {
    const { log } = raftLog([1, 1, 2, 2, 2, 5, 5]);
    assert.deepEqual(log.findConflictByTerm(7, 5), { index: 7, term: 5 });
    assert.deepEqual(log.findConflictByTerm(7, 4), { index: 5, term: 2 }, "skips the whole run of term 5");
    assert.deepEqual(log.findConflictByTerm(7, 1), { index: 2, term: 1 });
    assert.deepEqual(log.findConflictByTerm(4, 3), { index: 4, term: 2 });
    assert.deepEqual(log.findConflictByTerm(20, 3), { index: 5, term: 2 }, "an index past the end starts at the last index");
    assert.deepEqual(log.findConflictByTerm(7, 0), { index: 0, term: 0 });
  });

  test("§7: findConflictByTerm stops at the compacted boundary with an unknown term", () => {
    const storage = new MemoryLog(ABC);
    storage.append(entriesOfTerms([1, 1, 2, 2, 3, 3]));
    storage.compact({ index: 4, term: 2, conf: ABC });
    const log = new RaftLog(storage, 4, 4);
    assert.deepEqual(log.findConflictByTerm(6, 2), { index: 4, term: 2 }, "the snapshot's last term is known");
    assert.deepEqual(log.findConflictByTerm(6, 1), { index: 3, term: 0 }, "before the snapshot nothing is known");
  });

  test("§5.3: append replaces a conflicting suffix in the unstable tail", () => {
    const { log } = raftLog([1, 1]);
    log.append(entriesOfTerms([1, 1, 1], 3));
    assert.deepEqual(log.unstable().entries.map((e) => e.index), [3, 4, 5]);
    log.append(entriesOfTerms([2], 4));
    assert.equal(log.lastIndex(), 4);
    assert.deepEqual(log.unstable().entries.map((e) => [e.index, e.term]), [[3, 1], [4, 2]]);
  });

  test("§5.3: append below the stable offset truncates durable entries from the view", () => {
    const { log, storage } = raftLog([1, 1, 1, 1, 1]);
    assert.equal(log.stableIndex(), 5);
    log.append(entriesOfTerms([2], 3));
    assert.equal(log.lastIndex(), 3);
    assert.equal(log.term(3), 2);
    assert.equal(log.term(4), undefined, "4 and 5 are gone from the view even though storage still has them");
    assert.equal(storage.lastIndex(), 5);
    assert.equal(log.stableIndex(), 2);
    assert.deepEqual(log.entries(1, 4, 1e9).map((e) => e.term), [1, 1, 2]);
    log.stableTo(3, 2);
    assert.equal(log.stableIndex(), 3);
  });

  test("append never overwrites committed entries and never leaves a gap", () => {
    const { log } = raftLog([1, 1, 1], 2);
    assert.throws(() => log.append(entriesOfTerms([2], 2)), InvariantError);
    assert.throws(() => log.append(entriesOfTerms([2], 5)), InvariantError);
  });

  test("stableTo after a truncation does not mark the replacing entries durable", () => {
    const { log } = raftLog([1, 1, 1]);
    log.append(entriesOfTerms([1, 1, 1], 4)); // 4, 5, 6 of term 1 handed to the caller...
    log.append(entriesOfTerms([2], 5)); // ...and replaced at 5 before the caller acknowledged
    log.stableTo(6, 1); // the caller made (6, 1) durable: stale, 6 is gone
    assert.equal(log.stableIndex(), 3, "nothing changes: the replaced entries will be rewritten");
    assert.deepEqual(log.unstable().entries.map((e) => [e.index, e.term]), [[4, 1], [5, 2]]);
    log.stableTo(5, 1); // also stale: 5 now has term 2
    assert.equal(log.stableIndex(), 3);
    log.stableTo(4, 1); // 4 is unchanged: durable now
    assert.equal(log.stableIndex(), 4);
    assert.deepEqual(log.unstable().entries.map((e) => [e.index, e.term]), [[5, 2]]);
    log.stableTo(5, 2);
    assert.equal(log.stableIndex(), 5);
    assert.equal(log.unstable().entries.length, 0);
  });

  test("committed entries are handed out only once durable", () => {
    const { log, storage } = raftLog([1, 1]);
    log.append(entriesOfTerms([1, 1], 3));
    log.commitTo(4);
    assert.deepEqual(log.nextCommittedEntries(1e9).map((e) => e.index), [1, 2], "3 and 4 are not durable yet");
    storage.append(log.unstable().entries);
    log.stableTo(4, 1);
    log.applying = 2;
    assert.deepEqual(log.nextCommittedEntries(1e9).map((e) => e.index), [3, 4]);
    assert.throws(() => log.commitTo(9), InvariantError, "never commit past the last index");
  });

  test("§5.4.1: isUpToDate compares last terms first, then lengths", () => {
    const { log } = raftLog([1, 2, 2]);
    assert.equal(log.isUpToDate(1, 3), true);
    assert.equal(log.isUpToDate(3, 2), true);
    assert.equal(log.isUpToDate(2, 2), false);
    assert.equal(log.isUpToDate(9, 1), false);
  });
});
