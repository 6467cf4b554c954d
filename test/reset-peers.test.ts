/**
 * Forced recovery when a majority is lost (SOFAJraft's resetPeers): a survivor
 * adopts a new voter set without consensus, spends a new term on it, and leads
 * the group again. Unsafe by nature; these tests check that it works and that
 * it says what is wrong with bad input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { EntryType } from "../src/core/types.js";
import { decodeConfState } from "../src/core/configuration.js";
import { codeOf, electedCluster, run } from "./support/core-harness.js";
import { NodeCluster, bytes, codeOf as asyncCodeOf, waitFor } from "./support/node-cluster.js";

const E = 10;

test("3 nodes lose 2: the survivor, reset to itself alone, leads and commits again", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.propose("a", "before");
  const termBefore = c.core("c").status().term;
  c.isolate(["c"]); // a and b are gone for good
  c.core("c").forceConfiguration({ voters: ["c"], learners: [] });
  const status = c.core("c").status();
  assert.equal(status.term, termBefore + 1, "a new term is spent on the reset");
  assert.equal(status.vote, "c");
  assert.deepEqual(status.conf, { voters: ["c"], outgoing: [], learners: [] });
  run(c, ["c"], 2 * E);
  assert.equal(c.core("c").status().role, "leader");
  c.propose("c", "after");
  assert.deepEqual(c.appliedTexts("c"), ["before", "after"]);
  const config = c.node("c").log.entries(1, c.node("c").log.lastIndex() + 1, Infinity).filter((e) => e.type === EntryType.Config).at(-1)!;
  assert.deepEqual(decodeConfState(config.data).voters, ["c"], "the forced configuration is in the log, so it survives a restart");
});

test("5 nodes lose 3: both survivors reset to the pair elect one of them, which replicates to the other", () => {
  const ids = ["a", "b", "c", "d", "e"];
  const c = electedCluster(ids, "a");
  c.propose("a", "x");
  c.isolate(["a", "b", "c"]);
  run(c, ["d", "e"], 3 * E);
  assert.equal(c.leader(), "a", "without the reset, d and e cannot elect (a is the stale leader on the other side)");
  for (const id of ["d", "e"]) c.core(id).forceConfiguration({ voters: ["d", "e"], learners: [] });
  run(c, ["d", "e"], 3 * E);
  const leader = ["d", "e"].find((id) => c.core(id).status().role === "leader");
  assert.ok(leader !== undefined, "d or e leads");
  c.propose(leader, "y");
  for (const id of ["d", "e"]) assert.deepEqual(c.appliedTexts(id), ["x", "y"]);
});

test("a restart between the reset and the election keeps the forced configuration", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  c.isolate(["c"]);
  c.core("c").forceConfiguration({ voters: ["c"], learners: [] });
  c.processReadies();
  c.restart("c");
  assert.deepEqual(c.core("c").status().conf.voters, ["c"]);
  run(c, ["c"], 3 * E);
  assert.equal(c.core("c").status().role, "leader");
});

test("a forced configuration needs a voter, and no peer may be both voter and learner", () => {
  const c = electedCluster(["a", "b", "c"], "a");
  assert.equal(codeOf(() => c.core("b").forceConfiguration({ voters: [], learners: ["b"] })), "EINVAL");
  assert.equal(codeOf(() => c.core("b").forceConfiguration({ voters: ["b"], learners: ["b"] })), "EINVAL");
  assert.equal(c.core("b").status().conf.voters.length, 3, "a refused reset changes nothing");
});

test("RaftNode.resetPeers: a lone survivor of three leads again, warns loudly, and applies", async () => {
  const cluster = await NodeCluster.create(3, {}, 7301);
  try {
    const leader = await cluster.waitLeader();
    await leader.apply({ data: bytes("before") });
    const [survivor, ...lost] = cluster.initialIds;
    // A commit needs a majority, not the survivor: it must hold the entry before the others go.
    await waitFor(() => cluster.member(survivor!).sm.texts().includes("before"), 5000, "the survivor to apply the entry");
    for (const id of lost) await cluster.stop(id);
    const node = cluster.node(survivor!);
    await waitFor(() => node.state !== "leader", 2000, "the survivor not leading without a quorum");
    assert.equal(await asyncCodeOf(Promise.resolve().then(() => node.resetPeers([]))), "EINVAL");
    assert.equal(await asyncCodeOf(Promise.resolve().then(() => node.resetPeers(["not a peer id"]))), "EINVAL");
    node.resetPeers([survivor!]);
    assert.ok(cluster.warnings.some((w) => w.includes("resetPeers") && w.includes("unsafe")), "the reset is logged as unsafe");
    await waitFor(() => node.isLeader(), 3000, "the survivor leading");
    await node.apply({ data: bytes("after") });
    assert.deepEqual(cluster.member(survivor!).sm.texts(), ["before", "after"]);
    assert.deepEqual(node.listPeers(), [survivor]);
  } finally {
    await cluster.destroy();
  }
});
