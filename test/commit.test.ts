/**
 * The commit rule (§5.4.2): a leader commits by counting replicas only
 * entries of its own term; older entries commit indirectly. Figure 8 of the
 * paper, the leader's no-op (§8), and Leader Completeness (§5.4).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TestCluster } from "./support/cluster.js";
import { bytes, deliverAll, normalTexts, SafetyMonitor, seedNode, Tap, text } from "./support/log-scenarios.js";
import { SeededRandom } from "../src/core/random.js";
import { RaftError } from "../src/errors.js";
import { EntryType, type NodeId } from "../src/core/types.js";
import type { Message } from "../src/core/messages.js";

/** An append from `from` that carries an index >= `index` and that the receiver would accept now. */
function acceptedAppendCarrying(c: TestCluster, from: NodeId, index: number): (m: Message) => boolean {
  return (m) =>
    m.type === "append" &&
    m.from === from &&
    m.entries.some((e) => e.index >= index) &&
    c.core(m.to).term(m.prevIndex) === m.prevTerm;
}

/** Campaigns until `id` leads (a lost or stalled election just bumps its term), checking safety after every step. */
function win(c: TestCluster, id: NodeId, monitor: SafetyMonitor, tries = 5): void {
  for (let i = 0; i < tries && c.core(id).status().role !== "leader"; i++) {
    c.core(id).campaign();
    deliverAll(c, monitor.observe);
  }
  assert.equal(c.core(id).status().role, "leader", `${id} did not win an election`);
}

describe("§5.4.2 committing entries from previous terms", () => {
  test("§5.4.2: an entry of an older term on every node is not committed until an entry of the leader's term is", () => {
    const c = new TestCluster(["a", "b", "c"], { maxEntriesPerAppend: 1 });
    seedNode(c, "a", [1, 1, 2], { term: 2, commit: 2 });
    seedNode(c, "b", [1, 1], { term: 2, commit: 2 });
    seedNode(c, "c", [1, 1], { term: 2, commit: 2 });
    const tap = new Tap(c);
    const monitor = new SafetyMonitor(c);
    tap.hold = acceptedAppendCarrying(c, "a", 4); // the no-op (index 4) reaches nobody
    c.core("a").campaign();
    deliverAll(c, monitor.observe);
    const a = c.core("a").status();
    assert.equal(a.role, "leader");
    assert.equal(a.term, 3);
    assert.equal(c.core("a").term(4), 3, "the new leader's no-op");
    assert.equal(a.progress!["b"]!.match, 3);
    assert.equal(a.progress!["c"]!.match, 3);
    for (const id of ["a", "b", "c"]) assert.equal(c.core(id).term(3), 2, `${id} stores 3@2`);
    assert.equal(a.commit, 2, "3@2 is on all three nodes and still not committed: its term is not the leader's");
    for (const id of ["a", "b", "c"]) assert.ok(!normalTexts(c.node(id).applied).includes("3@2"), `${id} must not apply 3@2 yet`);
    assert.ok(tap.held.length >= 2);
    tap.hold = () => false;
    tap.release();
    deliverAll(c, monitor.observe);
    assert.equal(c.core("a").status().commit, 4, "the no-op commits and 3@2 with it");
    for (const id of ["a", "b", "c"]) assert.deepEqual(normalTexts(c.node(id).applied), ["1@1", "2@1", "3@2"]);
  });

  test("§5.4.2: a leader's commit index never lands on an entry of an earlier term", () => {
    const c = new TestCluster(["a", "b", "c"]);
    seedNode(c, "a", [1, 2, 2, 2], { term: 2, commit: 1 });
    seedNode(c, "b", [1, 2], { term: 2, commit: 1 });
    seedNode(c, "c", [1], { term: 2, commit: 1 });
    const commits: number[] = [];
    c.core("a").campaign();
    deliverAll(c, () => {
      const s = c.core("a").status();
      if (commits[commits.length - 1] !== s.commit) commits.push(s.commit);
      if (s.role === "leader") assert.ok(s.commit <= 1 || c.core("a").term(s.commit) === s.term, `commit ${s.commit} is of an old term`);
    });
    assert.deepEqual(commits, [1, 5], "from the old commit straight to the no-op");
  });
});

// ------------------------------------------------------------------ Figure 8

/**
 * Figure 8 of the paper with five servers s1..s5, up to step (c). Terms are
 * the core's own (every leader adds a no-op), the shape is the paper's.
 */
function figure8UpToC(): { c: TestCluster; tap: Tap; monitor: SafetyMonitor; xIndex: number } {
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  // The paper's basic algorithm (Figure 2): no pre-vote, no leader stickiness.
  const c = new TestCluster(ids, { preVote: false, checkQuorum: false, maxEntriesPerAppend: 1 });
  const tap = new Tap(c);
  const monitor = new SafetyMonitor(c);

  // (a) s1 leads and replicates index 2 to s2 only.
  win(c, "s1", monitor);
  const t1 = c.core("s1").status().term;
  assert.equal(c.core("s1").status().commit, 1, "s1's no-op committed");
  tap.blocked = (m) => m.from === "s1" && m.to !== "s2";
  const x = c.core("s1").propose(bytes("x"));
  deliverAll(c, monitor.observe);
  assert.equal(x.index, 2);
  assert.equal(c.core("s2").term(2), t1);
  assert.equal(c.core("s1").status().commit, 1, "on 2 of 5: not committed");

  // (b) s1 crashes; s5 wins with the votes of s3, s4 and itself, appends at index 2, crashes before replicating.
  tap.blocked = (m) => m.from === "s1" || m.to === "s1" || (m.from === "s5" && m.type === "append");
  win(c, "s5", monitor);
  const t5 = c.core("s5").status().term;
  assert.ok(t5 > t1);
  assert.equal(c.core("s5").term(2), t5, "s5's own entry at index 2");
  for (const id of ["s2", "s3", "s4"]) assert.notEqual(c.core(id).term(2), t5);

  // (c) s5 crashes; s1 restarts and wins, replicates 2@t1 to a majority, but its own entry (index 3) reaches nobody.
  tap.blocked = (m) => m.from === "s5" || m.to === "s5";
  c.restart("s1");
  tap.hold = acceptedAppendCarrying(c, "s1", 3);
  win(c, "s1", monitor);
  const s1 = c.core("s1").status();
  assert.ok(s1.term > t5, "s1 leads a later term than s5");
  assert.equal(c.core("s1").term(3), s1.term);
  for (const id of ["s1", "s2", "s3", "s4"]) assert.equal(c.core(id).term(2), t1, `${id} holds 2@${t1}`);
  assert.equal(s1.progress!["s3"]!.match, 2);
  assert.equal(s1.progress!["s4"]!.match, 2);
  assert.equal(s1.commit, 1, "2@t1 is known to be on s1, s3 and s4 — a majority — and still not committed (§5.4.2)");
  for (const id of ids) assert.ok(!c.appliedTexts(id).includes("x"));
  return { c, tap, monitor, xIndex: x.index };
}

describe("Figure 8 (§5.4.2)", () => {
  test("§5.4.2 Figure 8 (a)-(d): an old-term entry on a majority can be overwritten, so it must not have been committed", () => {
    const { c, tap, monitor, xIndex } = figure8UpToC();
    // (d) s1 crashes; s5 restarts and wins with s2, s3, s4 (its last term is higher) and overwrites index 2.
    tap.held = [];
    tap.hold = () => false;
    tap.blocked = (m) => m.from === "s1" || m.to === "s1";
    c.restart("s5");
    const t5 = c.core("s5").term(2)!;
    win(c, "s5", monitor);
    const s5 = c.core("s5").status();
    assert.ok(s5.commit >= 3, "s5 commits its own term's no-op and with it its index 2");
    for (const id of ["s2", "s3", "s4", "s5"]) {
      assert.equal(c.core(id).term(xIndex), t5, `${id}'s index 2 is now s5's entry`);
      assert.ok(!c.appliedTexts(id).includes("x"), "x was never committed anywhere");
    }
    assert.ok(monitor.checks > 20);
  });

  test("§5.4.2 Figure 8 (e): once an entry of s1's own term reaches a majority, 2@t1 is committed and s5 cannot win", () => {
    const { c, tap, monitor, xIndex } = figure8UpToC();
    tap.hold = () => false;
    tap.release(); // s1's entry at index 3 reaches s2, s3, s4
    deliverAll(c, monitor.observe);
    assert.ok(c.core("s1").status().commit >= 3);
    assert.deepEqual(c.appliedTexts("s1"), ["x"]);
    const committedTerm = c.core("s1").term(xIndex);
    // s1 crashes; s5 restarts and tries hard: it never wins, its log is behind the majority.
    tap.blocked = (m) => m.from === "s1" || m.to === "s1";
    c.restart("s5");
    for (let i = 0; i < 5; i++) {
      c.core("s5").campaign();
      deliverAll(c, monitor.observe);
      assert.notEqual(c.core("s5").status().role, "leader", "s5 lacks a committed entry (§5.4.1)");
    }
    win(c, "s2", monitor);
    deliverAll(c, monitor.observe);
    for (const id of ["s2", "s3", "s4", "s5"]) {
      assert.equal(c.core(id).term(xIndex), committedTerm, `${id} keeps the committed x`);
      assert.deepEqual(c.appliedTexts(id), ["x"]);
    }
  });
});

// ------------------------------------------------------------------ the leader's no-op

describe("the new leader's no-op (§8, §5.4.2)", () => {
  test("§8: a new leader appends a no-op of its term and commits the earlier entries through it", () => {
    const c = new TestCluster(["a", "b", "c"]);
    seedNode(c, "a", [1, 2], { term: 2, commit: 1 });
    seedNode(c, "b", [1, 2], { term: 2, commit: 1 });
    seedNode(c, "c", [1], { term: 2, commit: 1 });
    const commitsOfB: number[] = [];
    c.core("b").campaign();
    deliverAll(c, () => {
      const commit = c.core("b").status().commit;
      if (commitsOfB[commitsOfB.length - 1] !== commit) commitsOfB.push(commit);
    });
    assert.equal(c.leader(), "b");
    const term = c.core("b").status().term;
    const [noop] = c.node("b").log.entries(3, 4, 1e9);
    assert.equal(noop!.type, EntryType.Noop);
    assert.equal(noop!.term, term);
    assert.equal(noop!.data.byteLength, 0);
    assert.deepEqual(commitsOfB, [1, 3], "2@2 commits through the no-op, never on its own");
    for (const id of ["a", "b", "c"]) {
      assert.deepEqual(normalTexts(c.node(id).applied), ["1@1", "2@2"]);
      assert.deepEqual(c.node(id).applied.map((e) => e.type), [EntryType.Normal, EntryType.Normal, EntryType.Noop], "the no-op is applied too, in order");
    }
  });

  test("§8: a leader elected with nothing to commit still appends exactly one no-op per term", () => {
    const c = new TestCluster(["a", "b", "c"], { checkQuorum: false });
    c.elect("a");
    c.elect("b");
    c.elect("c");
    const entries = c.node("a").log.entries(1, c.node("a").log.lastIndex() + 1, 1e9);
    assert.deepEqual(entries.map((e) => [e.type, e.term]), [[EntryType.Noop, 1], [EntryType.Noop, 2], [EntryType.Noop, 3]]);
    assert.equal(c.core("c").status().commit, 3);
  });

  test("§8: a new leader refuses a read-index before its no-op commits (EAGAIN), so it never serves an old commit", () => {
    const c = new TestCluster(["a", "b", "c"]);
    const tap = new Tap(c);
    tap.hold = (m) => m.type === "appendResp";
    c.elect("a");
    assert.equal(c.leader(), "a");
    assert.throws(() => c.core("a").readIndex("r"), (e: unknown) => e instanceof RaftError && e.code === "EAGAIN");
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.doesNotThrow(() => c.core("a").readIndex("r"));
  });
});

// ------------------------------------------------------------------ leader completeness

describe("Leader Completeness (§5.4)", () => {
  test("§5.4.1/§5.4: a node missing a committed entry cannot become leader; one that has it can", () => {
    const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
    const tap = new Tap(c);
    const monitor = new SafetyMonitor(c);
    c.elect("a");
    tap.isolate(["c"]);
    const p = c.core("a").propose(bytes("committed"));
    deliverAll(c, monitor.observe);
    assert.equal(c.core("a").status().commit, p.index);
    tap.crash(["a"]);
    for (let i = 0; i < 4; i++) {
      c.core("c").campaign();
      deliverAll(c, monitor.observe);
      assert.notEqual(c.core("c").status().role, "leader", "b refuses c: c's log is behind (§5.4.1)");
    }
    win(c, "b", monitor);
    assert.equal(c.core("b").term(p.index), p.term);
    deliverAll(c, monitor.observe);
    assert.deepEqual(c.appliedTexts("c"), ["committed"]);
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    test(`§5.4 leader completeness and §5.4.3 state machine safety under partitions and restarts (seed ${seed})`, () => {
      const ids = ["n1", "n2", "n3", "n4", "n5"];
      const c = new TestCluster(ids, { electionTicks: 6, maxEntriesPerAppend: 2 });
      const tap = new Tap(c);
      const monitor = new SafetyMonitor(c);
      const rnd = new SeededRandom(seed * 7919);
      let proposals = 0;
      const leadersSeen = new Set<string>();
      for (let round = 0; round < 40; round++) {
        const r = rnd.nextInt(10);
        if (r < 3) {
          const cut = ids.filter(() => rnd.chance(0.4));
          tap.isolate(cut);
        } else if (r < 5) {
          const leader = c.leader();
          if (leader !== null) tap.isolate([leader]); // depose the leader
        } else if (r < 7) {
          tap.heal();
        } else if (r === 7) {
          const id = rnd.pick(ids);
          c.restart(id);
        }
        for (let t = 0; t < 4; t++) {
          c.tick(ids);
          deliverAll(c, monitor.observe);
        }
        for (const id of ids) {
          const s = c.core(id).status();
          if (s.role !== "leader") continue;
          leadersSeen.add(`${id}@${s.term}`);
          try {
            c.core(id).propose(bytes(`v${proposals++}`));
          } catch (e) {
            if (!(e instanceof RaftError)) throw e;
          }
        }
        deliverAll(c, monitor.observe);
      }
      tap.heal();
      // Quiet network: one leader gets everyone to the same committed log.
      for (let t = 0; t < 40; t++) {
        c.tick(ids);
        deliverAll(c, monitor.observe);
      }
      const leader = c.leader();
      assert.ok(leader !== null, "a leader after healing");
      c.core(leader).propose(bytes("final"));
      deliverAll(c, monitor.observe);
      const reference = c.node(leader).applied.map((e) => `${e.index}@${e.term}:${text(e.data)}`);
      for (const id of ids) {
        const applied = c.node(id).applied.map((e) => `${e.index}@${e.term}:${text(e.data)}`);
        // A restarted node re-applies from its applied index, so compare by index.
        const byIndex = new Map(applied.map((s) => [Number(s.split("@")[0]), s]));
        for (const line of reference) {
          const index = Number(line.split("@")[0]);
          assert.equal(byIndex.get(index), line, `${id} applied a different entry at ${index}`);
        }
      }
      assert.ok(leadersSeen.size >= 2, `the scenario changed leaders (${[...leadersSeen].join(" ")})`);
      assert.ok(monitor.committed.size > 5, "entries were committed");
    });
  }
});
