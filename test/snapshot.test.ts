/**
 * Log compaction and InstallSnapshot (§7; thesis chapter 5): the leader sends
 * a snapshot when a follower's next entry is compacted away, the follower
 * installs it through Ready, replication resumes; failures, partial matches,
 * membership carried by the snapshot, and restarts from a compacted log.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TestCluster } from "./support/cluster.js";
import { compactAt, deliverAll, entry, handleReady, normalTexts, SafetyMonitor, SoloCore, storedEntries, Tap } from "./support/log-scenarios.js";
import type { AppendResponse, Message, SnapshotRequest } from "../src/core/messages.js";
import type { SnapshotMeta } from "../src/core/types.js";

const ABC = { voters: ["a", "b", "c"], outgoing: [], learners: [] };

const isSnapshotTo = (to: string) => (m: Message): m is SnapshotRequest => m.type === "snapshot" && m.to === to;

/**
 * Three nodes; c misses p1..p5 while a and b commit them; a compacts its log
 * through p5; c comes back, and the next proposal makes the leader find c's
 * next entry gone. The snapshot message to c is held.
 */
function laggingFollower(options = {}): { c: TestCluster; tap: Tap; meta: SnapshotMeta; snapshotMsg: SnapshotRequest } {
  const c = new TestCluster(["a", "b", "c"], options);
  const tap = new Tap(c);
  c.elect("a");
  c.propose("a", "p0");
  tap.isolate(["c"]);
  for (let i = 1; i <= 5; i++) c.propose("a", `p${i}`);
  const commit = c.core("a").status().commit;
  assert.equal(commit, c.core("a").lastIndex());
  const meta = compactAt(c, "a", commit);
  assert.equal(c.core("a").status().firstIndex, commit + 1);
  tap.heal();
  tap.hold = isSnapshotTo("c");
  c.propose("a", "p6"); // c rejects it, the leader probes, finds c's next entry compacted
  assert.equal(tap.held.length, 1, "one snapshot message for c");
  const snapshotMsg = tap.held[0] as SnapshotRequest;
  tap.hold = () => false;
  tap.held = [];
  return { c, tap, meta, snapshotMsg };
}

describe("InstallSnapshot (§7)", () => {
  test("§7: a follower whose next entry is compacted gets a snapshot message, installs it through Ready, and replication resumes", () => {
    const { c, tap, meta, snapshotMsg } = laggingFollower();
    assert.deepEqual(snapshotMsg.snapshot, meta, "the message carries the snapshot's metadata");
    assert.deepEqual(Object.keys(snapshotMsg).sort(), ["from", "snapshot", "term", "to", "type"], "metadata only: the runtime moves the bytes");
    assert.equal(c.core("a").status().progress!["c"]!.state, "snapshot");
    // While the snapshot is in flight nothing else goes to c.
    tap.clear();
    c.propose("a", "p7");
    assert.equal(tap.count((m) => m.to === "c" && (m.type === "append" || m.type === "snapshot")), 0, "paused while snapshotting");

    // The runtime delivers it; the follower's Ready asks the caller to install it.
    const cCore = c.core("c");
    cCore.step(snapshotMsg);
    const ready = cCore.ready();
    assert.deepEqual(ready.snapshot, meta);
    assert.equal(ready.entries.length, 0);
    assert.equal(ready.committedEntries.length, 0, "the state machine loads the snapshot instead of applying entries");
    assert.equal(ready.messages.filter((m) => m.type === "appendResp").length, 0);
    const answers = ready.messagesAfterPersist.filter((m): m is AppendResponse => m.type === "appendResp");
    assert.deepEqual(answers.map((m) => [m.to, m.reject, m.index]), [["a", false, meta.index]], "answered once installed");
    assert.equal(ready.hardState?.commit, meta.index);
    handleReady(c, "c", ready);
    assert.deepEqual(c.node("c").log.snapshotMeta(), meta);
    const s = cCore.status();
    assert.deepEqual([s.firstIndex, s.lastIndex, s.commit, s.applied], [meta.index + 1, meta.index, meta.index, meta.index]);

    c.stabilize();
    const pr = c.core("a").status().progress!["c"]!;
    assert.equal(pr.state, "replicate");
    assert.equal(pr.match, c.core("a").lastIndex());
    assert.deepEqual(normalTexts(c.node("c").applied), ["p0", "p6", "p7"], "p1..p5 came inside the snapshot");
    assert.equal(cCore.status().commit, c.core("a").status().commit);
    assert.deepEqual(
      storedEntries(c.node("c").log).map((e) => [e.index, e.term]),
      storedEntries(c.node("a").log).map((e) => [e.index, e.term]),
      "the logs after the snapshot are identical",
    );
  });

  test("§7: reportSnapshot(peer, false) returns the peer to probing; the next heartbeat answer triggers a new snapshot", () => {
    const { c, tap, meta } = laggingFollower();
    const a = c.core("a");
    a.reportSnapshot("c", false);
    const pr = a.status().progress!["c"]!;
    assert.equal(pr.state, "probe");
    assert.ok(pr.next <= meta.index, "the failed snapshot gives no new knowledge of c's log");
    tap.clear();
    c.processReadies();
    assert.equal(tap.count((m) => m.to === "c"), 0, "probing waits for an answer first");
    tap.hold = isSnapshotTo("c");
    c.tick(["a"]); // heartbeat; c's answer unpauses the probe, which needs the snapshot again
    c.stabilize();
    assert.equal(tap.held.length, 1, "a new snapshot goes out");
    assert.deepEqual((tap.held[0] as SnapshotRequest).snapshot, meta);
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.equal(a.status().progress!["c"]!.state, "replicate");
    assert.equal(c.core("c").status().commit, a.status().commit);
  });

  test("§7: reportSnapshot(peer, true) probes right after the snapshot", () => {
    const { c, tap, meta, snapshotMsg } = laggingFollower();
    tap.hold = (m) => m.from === "c";
    c.queue.push(snapshotMsg);
    c.stabilize();
    assert.equal(c.node("c").log.snapshotMeta().index, meta.index, "installed");
    c.core("a").reportSnapshot("c", true);
    const pr = c.core("a").status().progress!["c"]!;
    assert.deepEqual([pr.state, pr.next], ["probe", meta.index + 1]);
    tap.held = []; // c's answer to the snapshot is lost
    tap.hold = () => false;
    tap.clear();
    c.tick(["a"]);
    c.stabilize();
    const appends = tap.sent.filter((m) => m.type === "append" && m.to === "c");
    assert.ok(appends.length > 0);
    assert.equal(appends[0]!.type === "append" && appends[0]!.prevIndex, meta.index);
    assert.equal(c.core("a").status().progress!["c"]!.state, "replicate");
    assert.equal(c.core("c").lastIndex(), c.core("a").lastIndex());
  });

  test("§7: a snapshotStatus reject for the pending snapshot makes the leader offer its newest snapshot on the next heartbeat answer", () => {
    const { c, tap, meta } = laggingFollower();
    const a = c.core("a");
    // Meanwhile the leader compacts further: the snapshot c was copying is gone.
    c.propose("a", "p7");
    const newer = compactAt(c, "a", a.status().commit);
    assert.ok(newer.index > meta.index);
    assert.deepEqual(a.pendingSnapshots(), [{ peer: "c", index: meta.index }]);
    tap.clear();
    a.step({ type: "snapshotStatus", from: "c", to: "a", term: a.status().term, index: meta.index, reject: true });
    assert.deepEqual(a.pendingSnapshots(), [], "c is back to probing");
    assert.equal(a.status().progress!["c"]!.state, "probe");
    tap.hold = isSnapshotTo("c");
    c.tick(["a"]); // heartbeat; c's answer lets the probe find its next entry compacted again
    c.stabilize();
    assert.equal(tap.held.length, 1, "one snapshot message for c");
    assert.deepEqual((tap.held[0] as SnapshotRequest).snapshot, newer, "the newest snapshot is offered");
    tap.hold = () => false;
    tap.release();
    c.stabilize();
    assert.equal(a.status().progress!["c"]!.state, "replicate");
    assert.deepEqual(normalTexts(c.node("c").applied), ["p0"], "p1..p7 came inside the newer snapshot");
    assert.equal(c.core("c").status().commit, a.status().commit);
  });

  test("§7: a snapshotStatus about another snapshot than the pending one, or from a stale term, changes nothing", () => {
    const { c, meta } = laggingFollower();
    const a = c.core("a");
    const term = a.status().term;
    a.step({ type: "snapshotStatus", from: "c", to: "a", term, index: meta.index - 1, reject: true });
    a.step({ type: "snapshotStatus", from: "c", to: "a", term: term - 1, index: meta.index, reject: true });
    a.step({ type: "snapshotStatus", from: "b", to: "a", term, index: meta.index, reject: true }); // b waits for no snapshot
    assert.deepEqual(a.pendingSnapshots(), [{ peer: "c", index: meta.index }]);
    assert.equal(a.status().progress!["b"]!.state, "replicate");
    // An accepted report (reject false) probes right after the snapshot, as reportSnapshot(peer, true) does.
    a.step({ type: "snapshotStatus", from: "c", to: "a", term, index: meta.index, reject: false });
    const pr = a.status().progress!["c"]!;
    assert.deepEqual([pr.state, pr.next], ["probe", meta.index + 1]);
  });

  test("§7: a follower that already holds the snapshot's last entry keeps its log and only commits", () => {
    const f = new SoloCore("c", ABC, [1, 1, 1, 1, 1], { term: 1 });
    const ready = f.step({ type: "snapshot", from: "a", to: "c", term: 1, snapshot: { index: 3, term: 1, conf: ABC } })!;
    assert.equal(ready.snapshot, null, "nothing to install");
    assert.deepEqual(ready.committedEntries.map((e) => e.index), [1, 2, 3]);
    const s = f.core.status();
    assert.deepEqual([s.firstIndex, s.lastIndex, s.commit], [1, 5, 3], "entries 4 and 5 are kept");
    const [resp] = ready.messagesAfterPersist.filter((m): m is AppendResponse => m.type === "appendResp");
    assert.deepEqual([resp!.reject, resp!.index], [false, 3]);
    // A snapshot at or below the commit index is answered with the commit index and changes nothing.
    const again = f.step({ type: "snapshot", from: "a", to: "c", term: 1, snapshot: { index: 2, term: 1, conf: ABC } })!;
    const [resp2] = again.messagesAfterPersist.filter((m): m is AppendResponse => m.type === "appendResp");
    assert.equal(resp2!.index, 3);
    assert.equal(again.snapshot, null);
    assert.equal(f.core.status().lastIndex, 5);
  });

  test("§7: a follower whose entry at the snapshot index conflicts discards its whole log", () => {
    const f = new SoloCore("c", ABC, [1, 1, 2, 2, 2], { term: 2, commit: 2 });
    f.handleNext();
    const ready = f.step({ type: "snapshot", from: "a", to: "c", term: 3, snapshot: { index: 4, term: 3, conf: ABC } })!;
    assert.deepEqual(ready.snapshot, { index: 4, term: 3, conf: ABC });
    const s = f.core.status();
    assert.deepEqual([s.firstIndex, s.lastIndex, s.commit, s.term], [5, 4, 4, 3]);
    assert.equal(f.log.lastIndex(), 4);
    assert.equal(f.core.term(4), 3);
    assert.equal(f.core.term(3), undefined, "nothing before the snapshot remains");
    // It then accepts appends that follow the snapshot.
    const next = f.step({ type: "append", from: "a", to: "c", term: 3, prevIndex: 4, prevTerm: 3, entries: [entry(5, 3)], commit: 5 })!;
    const [resp] = next.messagesAfterPersist.filter((m): m is AppendResponse => m.type === "appendResp");
    assert.deepEqual([resp!.reject, resp!.index], [false, 5]);
    assert.equal(f.core.status().commit, 5);
    const applyReady = next.committedEntries.length > 0 ? next : f.handleNext()!;
    assert.deepEqual(applyReady.committedEntries.map((e) => e.index), [5], "handed out for applying once durable");
  });
});

describe("membership and restarts with snapshots (§7, thesis §5.1)", () => {
  test("§7: the membership in the snapshot's metadata replaces the follower's, also after a restart", () => {
    const c = new TestCluster(["a", "b", "c"]);
    const tap = new Tap(c);
    c.elect("a");
    tap.isolate(["c"]);
    c.addNode("d");
    c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d");
    c.stabilize();
    c.propose("a", "with-d");
    const commit = c.core("a").status().commit;
    const meta = compactAt(c, "a", commit);
    assert.deepEqual(meta.conf.voters, ["a", "b", "c", "d"], "confAt gives the membership at the snapshot index");
    const configIndex = c.node("a").confResults[0]!.index;
    assert.deepEqual(c.core("a").confAt(configIndex - 1), ABC, "and the older membership before the configuration entry");
    tap.heal();
    c.propose("a", "after");
    assert.deepEqual(c.node("c").log.snapshotMeta(), meta, "c installed the snapshot");
    assert.deepEqual(c.core("c").status().conf, meta.conf, "c never saw the configuration entry, yet knows d");
    assert.deepEqual(c.appliedTexts("c"), ["after"]);
    // c's elections now include d.
    tap.clear();
    c.core("c").campaign();
    c.stabilize();
    const asked = tap.sent.filter((m) => m.from === "c" && m.type === "preVote").map((m) => m.to).sort();
    assert.deepEqual(asked, ["a", "b", "d"]);
    // After a restart from its snapshot-only log, c still has that membership.
    const restarted = c.restart("c");
    const s = restarted.core.status();
    assert.deepEqual(s.conf, meta.conf);
    assert.equal(s.firstIndex, meta.index + 1);
    assert.ok(s.commit >= meta.index);
    c.tick(["a"]);
    c.stabilize();
    assert.equal(c.core("c").lastIndex(), c.core("a").lastIndex());
  });

  test("§7: a leader restarted from a compacted log keeps its state and membership, and brings a new server up with a snapshot", () => {
    const c = new TestCluster(["a", "b", "c"], { checkQuorum: false });
    const monitor = new SafetyMonitor(c);
    c.elect("a");
    for (let i = 0; i < 4; i++) c.propose("a", `v${i}`);
    c.core("a").proposeConfChange({ voters: ["a", "b", "c"], learners: ["l"] }, "learner-l");
    c.stabilize(); // l does not exist yet: it is a learner nobody can reach
    c.propose("a", "v4");
    c.propose("a", "v5");
    const configIndex = c.node("a").confResults[0]!.index;
    const commit = c.core("a").status().commit;
    const meta = compactAt(c, "a", commit - 1); // through v4: the configuration entry is compacted away
    assert.ok(meta.index > configIndex);
    const before = c.core("a").status();
    const node = c.restart("a");
    const after = node.core.status();
    assert.equal(after.role, "follower");
    assert.equal(after.term, before.term);
    assert.equal(after.firstIndex, meta.index + 1);
    assert.equal(after.lastIndex, before.lastIndex);
    assert.equal(after.commit, before.commit, "the commit index was persisted in the hard state");
    assert.equal(after.applied, before.applied);
    assert.deepEqual(after.conf, { voters: ["a", "b", "c"], outgoing: [], learners: ["l"] }, "the membership comes from the snapshot's metadata");
    assert.equal(node.core.term(meta.index), meta.term);
    const appliedBefore = node.applied.length;
    c.processReadies();
    assert.equal(node.applied.length, appliedBefore, "nothing is applied twice after the restart");

    c.elect("a");
    assert.equal(c.leader(), "a");
    // l starts now: its first entry is long compacted, so it gets the snapshot and then the rest.
    c.addNode("l");
    deliverAll(c, monitor.observe);
    c.tick(["a"]);
    deliverAll(c, monitor.observe);
    const l = c.core("l").status();
    assert.equal(c.node("l").log.snapshotMeta().index, meta.index);
    assert.deepEqual(l.conf, after.conf);
    assert.equal(l.lastIndex, c.core("a").lastIndex());
    assert.equal(l.commit, c.core("a").status().commit);
    assert.deepEqual(c.appliedTexts("l"), ["v5"], "only what follows the snapshot is applied as entries");
  });
});

test("§7: a compacted leader still repairs a follower that only needs entries after the snapshot", () => {
  const c = new TestCluster(["a", "b", "c"]);
  const tap = new Tap(c);
  c.elect("a");
  c.propose("a", "x0");
  c.propose("a", "x1");
  const meta = compactAt(c, "a", c.core("a").status().commit);
  tap.isolate(["c"]);
  c.propose("a", "x2");
  tap.heal();
  c.propose("a", "x3");
  assert.equal(tap.count((m) => m.type === "snapshot"), 0, "c's next entry is still in the log: no snapshot needed");
  assert.deepEqual(c.appliedTexts("c"), ["x0", "x1", "x2", "x3"]);
  assert.ok(c.core("a").status().firstIndex === meta.index + 1);
});
