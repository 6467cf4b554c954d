/** RaftNode over the in-memory transport and real storage: election, apply, errors, reads, options. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { RaftError } from "../src/errors.js";
import { RaftNode } from "../src/node/raft-node.js";
import { MetaStore } from "../src/storage/meta-store.js";
import { MemoryNetwork } from "../src/transport/memory-transport.js";
import { NodeCluster, RecordingStateMachine, bytes, codeOf, quietLogger, waitFor } from "./support/node-cluster.js";

test("3 nodes elect a leader and apply the same entries in the same order (§5.3 log matching)", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const leader = await cluster.waitLeader();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => leader.apply({ data: bytes(`cmd-${i}`) })));
    // done() answers with how many entries the leader's state machine holds: each answer is distinct and in range.
    assert.equal(new Set(results).size, 50);
    const expected = Array.from({ length: 50 }, (_, i) => `cmd-${i}`);
    await waitFor(() => [...cluster.members.values()].every((m) => m.sm.applied.length === 50), 5000, "every member applies 50 entries");
    for (const member of cluster.members.values()) {
      assert.deepEqual(member.sm.texts(), expected);
      assert.deepEqual(member.sm.applied.map((e) => e.index), cluster.member(leader.serverId).sm.applied.map((e) => e.index));
    }
    assert.ok(cluster.member(leader.serverId).sm.events.some((e) => e.startsWith("leaderStart:")));
    const description = leader.describe();
    assert.equal(description.state, "leader");
    assert.ok(description.appliedIndex >= 50);
    assert.deepEqual(JSON.parse(JSON.stringify(description)).conf.voters, cluster.initialIds);
    assert.deepEqual(leader.listAlivePeers(), cluster.initialIds);
  } finally {
    await cluster.destroy();
  }
});

test("apply on a follower is ENOTLEADER naming the leader; a wrong expectedTerm is EPERM", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const leader = await cluster.waitLeader();
    const follower = cluster.followers()[0]!;
    const error = await follower.apply({ data: bytes("x") }).catch((e: unknown) => e);
    assert.ok(error instanceof RaftError);
    assert.equal(error.code, "ENOTLEADER");
    assert.equal(error.leaderHint, leader.serverId);
    assert.equal(await codeOf(leader.apply({ data: bytes("y"), expectedTerm: leader.term + 1 })), "EPERM");
    assert.equal(await codeOf(leader.apply({ data: bytes("z"), expectedTerm: leader.term })), "resolved");
    assert.equal(await codeOf(leader.apply({ data: "text" as unknown as Uint8Array })), "EINVAL");
  } finally {
    await cluster.destroy();
  }
});

test("a flood of 100k tasks with maxPendingTasks 100 is answered EBUSY at once, and the accepted ones apply", async () => {
  // A long request timeout: building 100k rejections takes seconds on a loaded machine, and the accepted tasks must not time out meanwhile.
  const cluster = await NodeCluster.create(3, { maxPendingTasks: 100, requestTimeoutMs: 60_000 });
  try {
    const leader = await cluster.waitLeader();
    const heapBefore = process.memoryUsage().heapUsed;
    const outcomes = Array.from({ length: 100_000 }, (_, i) => codeOf(leader.apply({ data: bytes(`f${i}`) })));
    assert.ok(leader.describe().pending.tasks <= 100);
    const codes = await Promise.all(outcomes);
    const busy = codes.filter((c) => c === "EBUSY").length;
    const resolved = codes.filter((c) => c === "resolved").length;
    assert.ok(busy >= 99_000, `EBUSY ${busy}`);
    assert.equal(busy + resolved, 100_000, `other outcomes: ${[...new Set(codes.filter((c) => c !== "EBUSY" && c !== "resolved"))].join(", ")}`);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 200 * 1024 * 1024);
    await waitFor(() => [...cluster.members.values()].every((m) => m.sm.applied.length === resolved), 5000, "the accepted tasks applied everywhere");
  } finally {
    await cluster.destroy();
  }
});

test("readIndex on the leader and on a follower sees every acknowledged write (thesis §6.4)", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const leader = await cluster.waitLeader();
    const follower = cluster.followers()[0]!;
    const followerSm = cluster.member(follower.serverId).sm;
    for (let i = 0; i < 20; i++) {
      await leader.apply({ data: bytes(`w${i}`) });
      const index = await follower.readIndex();
      assert.ok(follower.appliedIndex >= index);
      assert.equal(followerSm.texts().at(-1), `w${i}`, "the follower's read sees the write acknowledged before it");
      const leaderIndex = await leader.readIndex();
      assert.ok(leader.appliedIndex >= leaderIndex);
    }
    const reads = await Promise.all(Array.from({ length: 50 }, () => follower.readIndex()));
    assert.ok(reads.every((i) => i >= leader.committedIndex - 1));
  } finally {
    await cluster.destroy();
  }
});

test("readIndex takes the mode read by read on a lease node: lease and safe reads both see the last write; a bad mode is EINVAL", async () => {
  const cluster = await NodeCluster.create(3, { readOnly: "lease" });
  try {
    const leader = await cluster.waitLeader();
    for (let i = 0; i < 10; i++) {
      await leader.apply({ data: bytes(`w${i}`) });
      const committed = leader.committedIndex;
      assert.ok((await leader.readIndex("lease")) >= committed);
      assert.ok((await leader.readIndex("safe")) >= committed);
    }
    assert.equal(await codeOf(leader.readIndex("fast" as "safe")), "EINVAL");
  } finally {
    await cluster.destroy();
  }
});

test("a lone node without initialServerList waits to be added: it never campaigns", async () => {
  const cluster = await NodeCluster.create(0);
  try {
    const member = await cluster.start("127.0.0.1:7100", { initial: false });
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(member.node.state, "follower");
    assert.equal(member.node.term, 0);
    assert.equal(await codeOf(member.node.apply({ data: bytes("x") })), "ENOTLEADER");
    assert.equal(await codeOf(member.node.readIndex()), "ENOTLEADER");
  } finally {
    await cluster.destroy();
  }
});

test("bad options are EINVAL with a message that says what to change", async () => {
  const root = await mkdtemp(join(tmpdir(), "tsraft-node-options-"));
  const network = new MemoryNetwork();
  const transport = network.createTransport({ address: "127.0.0.1:7200", clusterName: "test" });
  const base = { groupId: "g", serverId: "127.0.0.1:7200", dataDir: root, stateMachine: new RecordingStateMachine(), transport, logger: quietLogger };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ electionTimeoutMs: 10 }, /electionTimeoutMs must be an integer of at least 50/],
    [{ serverId: "nohost" }, /peer id "nohost" is not of the form/],
    [{ groupId: "" }, /groupId is required/],
    [{ maxPendingTasks: 0 }, /maxPendingTasks must be an integer of at least 1/],
    [{ applyBatch: 1.5 }, /applyBatch/],
    [{ readOnly: "fast" }, /readOnly must be "safe" or "lease"/],
    [{ stateMachine: {} }, /stateMachine is required/],
    [{ initialServerList: ["127.0.0.1:1", "bad"] }, /peer id "bad"/],
  ];
  try {
    for (const [override, message] of cases) {
      const error = await RaftNode.start({ ...base, ...override } as never).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof RaftError, `expected a RaftError for ${JSON.stringify(override)}`);
      assert.equal(error.code, "EINVAL");
      assert.match(error.message, message);
    }
  } finally {
    await transport.close();
    await rm(root, { recursive: true, force: true });
  }
});

test("the hard state file changes with term and vote only, not with every commit; sync: false still replicates", async () => {
  const cluster = await NodeCluster.create(3, { sync: false });
  try {
    const leader = await cluster.waitLeader();
    for (let i = 0; i < 20; i++) await leader.apply({ data: bytes(`m${i}`) });
    const member = cluster.member(leader.serverId);
    const stored = (await MetaStore.open(join(member.dataDir, "meta"))).hardState;
    assert.equal(stored.term, leader.term);
    assert.equal(stored.vote, leader.serverId);
    assert.ok(stored.commit < leader.committedIndex, `commit ${stored.commit} was saved again after the election (now ${leader.committedIndex})`);
    await waitFor(() => [...cluster.members.values()].every((m) => m.sm.applied.length === 20), 5000, "every member applies 20 entries");
  } finally {
    await cluster.destroy();
  }
});
