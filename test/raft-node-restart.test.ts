/** RaftNode restarts and the ERROR state: nothing acknowledged is lost, a failing state machine never diverges. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeCluster, RecordingStateMachine, bytes, codeOf, waitFor } from "./support/node-cluster.js";

test("a restarted follower loses nothing acknowledged and catches up (§5.1 durable state)", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    let leader = await cluster.waitLeader();
    for (let i = 0; i < 20; i++) await leader.apply({ data: bytes(`a${i}`) });
    const followerId = cluster.followers()[0]!.serverId;
    await cluster.stop(followerId);
    for (let i = 20; i < 40; i++) await leader.apply({ data: bytes(`a${i}`) });
    const restarted = await cluster.start(followerId, { initial: true }); // initialServerList is ignored now
    const expected = Array.from({ length: 40 }, (_, i) => `a${i}`);
    await waitFor(() => restarted.sm.applied.length === 40, 5000, "the restarted follower catches up");
    assert.deepEqual(restarted.sm.texts(), expected);
    leader = await cluster.waitLeader();
    await leader.apply({ data: bytes("after") });
    await waitFor(() => restarted.sm.texts().at(-1) === "after", 5000, "the restarted follower keeps up");
  } finally {
    await cluster.destroy();
  }
});

test("a restarted leader's cluster elects again and goes on; all three restarted keep every acknowledged write", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const first = await cluster.waitLeader();
    const acknowledged: string[] = [];
    for (let i = 0; i < 15; i++) {
      await first.apply({ data: bytes(`b${i}`) });
      acknowledged.push(`b${i}`);
    }
    const oldLeaderId = first.serverId;
    const oldTerm = first.term;
    await cluster.stop(oldLeaderId);
    const second = await cluster.waitLeader();
    assert.notEqual(second.serverId, oldLeaderId);
    assert.ok(second.term > oldTerm);
    for (let i = 15; i < 30; i++) {
      await second.apply({ data: bytes(`b${i}`) });
      acknowledged.push(`b${i}`);
    }
    await cluster.start(oldLeaderId, { initial: true });
    await waitFor(() => cluster.member(oldLeaderId).sm.applied.length === 30, 5000, "the old leader catches up");
    // Now every member restarts: each replays its log from the start.
    for (const id of [...cluster.members.keys()]) await cluster.stop(id);
    for (const id of cluster.initialIds) await cluster.start(id, { initial: true });
    const third = await cluster.waitLeader();
    await third.apply({ data: bytes("final") });
    await waitFor(() => [...cluster.members.values()].every((m) => m.sm.texts().at(-1) === "final"), 5000, "everyone applies the last write");
    for (const member of cluster.members.values()) assert.deepEqual(member.sm.texts(), [...acknowledged, "final"]);
    assert.equal(cluster.warnings.filter((w) => w.includes("initialServerList")).length, 0, "the membership agrees with initialServerList");
  } finally {
    await cluster.destroy();
  }
});

for (const [transport, basePort] of [["memory", 7001], ["tcp", 7451]] as const) {
  test(`${transport}: a throwing onApply puts that node in ERROR (onError once, describe says why, leadership handed over); restarted with the fix it catches up`, async () => {
    const cluster = await NodeCluster.create(3, {}, basePort, transport);
    try {
      const leader = await cluster.waitLeader();
      await leader.apply({ data: bytes("ok-1") });
      // The leader itself fails: the harder case, it must also give up leadership.
      const failing = cluster.member(leader.serverId);
      failing.sm.failOn = (text) => text === "poison";
      const poisoned = await codeOf(leader.apply({ data: bytes("poison") }));
      assert.equal(poisoned, "ESTATEMACHINE");
      await waitFor(() => failing.node.state === "error", 5000, "the failing node enters ERROR");
      assert.equal(failing.sm.errors.length, 1);
      const description = failing.node.describe();
      assert.equal(description.lastError?.code, "ESTATEMACHINE");
      assert.match(description.lastError?.message ?? "", /onApply threw at index \d+: cannot apply poison/);
      assert.ok(cluster.warnings.some((w) => w.includes("entered the ERROR state")));
      assert.equal(await codeOf(failing.node.apply({ data: bytes("x") })), "ESTATEMACHINE");
      assert.equal(await codeOf(failing.node.readIndex()), "ESTATEMACHINE");
      const appliedAtError = failing.node.appliedIndex;

      // The others elect a new leader and go on; the node in ERROR applies nothing more.
      await waitFor(() => [...cluster.members.values()].some((m) => m.id !== failing.id && m.node.state === "leader"), 5000, "another leader");
      const next = [...cluster.members.values()].find((m) => m.node.state === "leader")!.node;
      for (let i = 0; i < 10; i++) await next.apply({ data: bytes(`ok-after-${i}`) });
      assert.equal(failing.node.appliedIndex, appliedAtError);
      assert.equal(failing.sm.errors.length, 1, "onError is called once");
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(failing.node.state, "error", "a node in ERROR never leads again");

      // Restart with the cause fixed: it replays its log and catches up, poison included, like the others.
      await cluster.stop(failing.id);
      const fixed = await cluster.start(failing.id, { initial: true, sm: new RecordingStateMachine() });
      const healthy = [...cluster.members.values()].find((m) => m.id !== failing.id)!;
      await waitFor(() => fixed.sm.applied.length === healthy.sm.applied.length, 5000, "the fixed node catches up");
      assert.deepEqual(fixed.sm.texts(), healthy.sm.texts());
      assert.ok(fixed.sm.texts().includes("poison"));
    } finally {
      await cluster.destroy();
    }
  });
}

test("shutdown fails pending work with ESHUTDOWN and calls onShutdown once", async () => {
  const cluster = await NodeCluster.create(1);
  try {
    const leader = await cluster.waitLeader();
    const member = cluster.member(leader.serverId);
    await leader.apply({ data: bytes("one") });
    await cluster.stop(leader.serverId);
    assert.equal(leader.state, "shutdown");
    assert.equal(await codeOf(leader.apply({ data: bytes("two") })), "ESHUTDOWN");
    assert.deepEqual(member.sm.events.filter((e) => e === "shutdown"), ["shutdown"]);
    const again = await cluster.start(leader.serverId, { initial: true });
    await waitFor(() => again.sm.applied.length === 1, 5000, "the single node replays its log");
    assert.deepEqual(again.sm.texts(), ["one"]);
  } finally {
    await cluster.destroy();
  }
});
