/** RaftNode membership (thesis §4): adding and removing voters, learners, promotion, leadership transfer (thesis §3.10). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeCluster, bytes, codeOf, waitFor, type Member } from "./support/node-cluster.js";

test("a 4th node started empty joins through addPeer, then a voter is removed", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    let leader = await cluster.waitLeader();
    for (let i = 0; i < 10; i++) await leader.apply({ data: bytes(`m${i}`) });
    const newId = "127.0.0.1:7010";
    const joining = await cluster.start(newId, { initial: false });
    assert.equal(await codeOf(joining.node.addPeer("127.0.0.1:7011")), "ENOTLEADER");
    const conf = await leader.addPeer(newId);
    assert.deepEqual(conf.voters, [...cluster.initialIds, newId].sort());
    assert.deepEqual(leader.listPeers(), [...cluster.initialIds, newId].sort());
    await waitFor(() => joining.sm.applied.length === 10, 5000, "the new voter catches up");
    assert.deepEqual(joining.sm.texts(), Array.from({ length: 10 }, (_, i) => `m${i}`));
    await waitFor(() => joining.node.listPeers().length === 4, 5000, "the new voter knows the membership");

    const removed = cluster.initialIds.find((id) => id !== leader.serverId)!;
    const after = await leader.removePeer(removed);
    assert.deepEqual(after.voters, [...cluster.initialIds, newId].filter((id) => id !== removed).sort());
    await cluster.stop(removed);
    leader = await cluster.waitLeader();
    await leader.apply({ data: bytes("after-remove") });
    await waitFor(() => joining.sm.texts().at(-1) === "after-remove", 5000, "the remaining voters commit without the removed one");
    assert.equal(await codeOf(leader.removePeer("127.0.0.1:7999")), "EINVAL");
  } finally {
    await cluster.destroy();
  }
});

test("learners receive the log without voting, and changePeers promotes one", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const leader = await cluster.waitLeader();
    const learnerIds = ["127.0.0.1:7020", "127.0.0.1:7021"];
    const learners: Member[] = [];
    for (const id of learnerIds) learners.push(await cluster.start(id, { initial: false }));
    const conf = await leader.addLearners(learnerIds);
    assert.deepEqual(conf.learners, learnerIds);
    assert.deepEqual(leader.listLearners(), learnerIds);
    await leader.apply({ data: bytes("to-learners") });
    await waitFor(() => learners.every((l) => l.sm.texts().includes("to-learners")), 5000, "learners apply the log");
    assert.ok(learners.every((l) => l.node.state === "follower"));

    const promoted = await leader.changePeers([...cluster.initialIds, learnerIds[0]!]);
    assert.deepEqual(promoted.voters, [...cluster.initialIds, learnerIds[0]!].sort());
    assert.deepEqual(promoted.learners, [learnerIds[1]]);
    const cleared = await leader.resetLearners([]);
    assert.deepEqual(cleared.learners, []);
    assert.deepEqual(leader.listPeers(), [...cluster.initialIds, learnerIds[0]!].sort());
    assert.equal(await codeOf(leader.addLearners([cluster.initialIds[0]!])), "EINVAL");
  } finally {
    await cluster.destroy();
  }
});

test("transferLeadershipTo a named peer, then to any", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const leader = await cluster.waitLeader();
    await leader.apply({ data: bytes("before") });
    const target = cluster.initialIds.find((id) => id !== leader.serverId)!;
    leader.transferLeadershipTo(target);
    const next = await cluster.waitLeader();
    assert.equal(next.serverId, target);
    assert.equal(await codeOf(next.apply({ data: bytes("after") })), "resolved");
    next.transferLeadershipTo("any");
    await waitFor(() => next.state === "follower", 5000, "the leader hands over to any peer");
    const third = await cluster.waitLeader();
    assert.notEqual(third.serverId, target);
    assert.throws(() => cluster.followers()[0]!.transferLeadershipTo(target), /ENOTLEADER/);
  } finally {
    await cluster.destroy();
  }
});
