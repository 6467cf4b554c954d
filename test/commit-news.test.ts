/**
 * How followers hear of commits. With immediateCommitNews (the core's
 * default, as in etcd) a leader sends an empty append for each commit; without
 * it (the node's choice, as in SOFAJraft) the news rides on the next append or
 * heartbeat, except when a follower's read waits on it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { AppendRequest, Message } from "../src/core/messages.js";
import { electedCluster, record, run } from "./support/core-harness.js";

const appendsFrom = (msgs: readonly Message[], from: string): AppendRequest[] =>
  msgs.filter((m): m is AppendRequest => m.type === "append" && m.from === from);

test("with immediateCommitNews a commit is followed at once by an empty append carrying it", () => {
  const c = electedCluster(["a", "b", "c"], "a", { immediateCommitNews: true });
  const sent = record(c);
  const { index } = c.propose("a", "x");
  const empties = appendsFrom(sent, "a").filter((m) => m.entries.length === 0);
  assert.deepEqual(empties.map((m) => [m.to, m.commit]).sort(), [["b", index], ["c", index]]);
  for (const id of ["b", "c"]) assert.deepEqual(c.appliedTexts(id), ["x"]);
});

test("without immediateCommitNews no frame goes for a commit alone; the next append or heartbeat carries it", () => {
  const c = electedCluster(["a", "b", "c"], "a", { immediateCommitNews: false });
  const sent = record(c);
  const x = c.propose("a", "x");
  assert.equal(c.core("a").status().commit, x.index, "the leader commits x");
  assert.deepEqual(appendsFrom(sent, "a").filter((m) => m.entries.length === 0), [], "an empty append carried only the commit");
  for (const id of ["b", "c"]) assert.deepEqual(c.appliedTexts(id), [], `${id} applied before it heard of the commit`);

  sent.length = 0;
  c.propose("a", "y");
  const carriers = appendsFrom(sent, "a").filter((m) => m.entries.length === 1);
  assert.equal(carriers.length, 2);
  assert.ok(carriers.every((m) => m.commit >= x.index), "the append of y carries the commit of x");
  for (const id of ["b", "c"]) assert.deepEqual(c.appliedTexts(id), ["x"]);

  run(c, ["a", "b", "c"], 1); // one heartbeat
  for (const id of ["b", "c"]) assert.deepEqual(c.appliedTexts(id), ["x", "y"], `${id} heard of y's commit by the heartbeat`);
});

test("without immediateCommitNews a follower's lease read still gets the commit index it must apply up to", () => {
  const c = electedCluster(["a", "b", "c"], "a", { immediateCommitNews: false, readOnly: "lease" });
  run(c, ["a", "b", "c"], 1); // a heartbeat acknowledged by all: the lease holds
  const { index } = c.propose("a", "x");
  assert.deepEqual(c.appliedTexts("b"), [], "setup: b has not heard of x's commit");
  const sent = record(c);
  c.core("b").readIndex("r");
  c.stabilize();
  assert.equal(sent.filter((m) => m.type === "heartbeat").length, 0, "setup: the leader answered from its lease, with no round");
  assert.deepEqual(c.node("b").readStates, [{ context: "r", index, error: null }]);
  assert.deepEqual(c.appliedTexts("b"), ["x"], "b can serve the read without waiting for a heartbeat");
  assert.deepEqual(c.appliedTexts("c"), [], "c, which asked for nothing, waits for the next append or heartbeat");
});

test("without immediateCommitNews a new peer is still probed at once: it catches up and joins without a tick", () => {
  const c = electedCluster(["a", "b", "c"], "a", { immediateCommitNews: false });
  c.propose("a", "before");
  const d = c.addNode("d", undefined, { immediateCommitNews: false });
  assert.equal(d.core.lastIndex(), 0);
  c.core("a").proposeConfChange({ voters: ["a", "b", "c", "d"], learners: [] }, "add-d");
  c.stabilize(); // no tick: probes, catch-up and the configuration entry ride on messages alone
  assert.equal(c.node("a").confResults[0]?.error, null);
  assert.equal(c.core("a").status().progress!["d"]!.match, c.core("a").lastIndex());
  assert.deepEqual(c.core("d").status().conf.voters, ["a", "b", "c", "d"]);
});
