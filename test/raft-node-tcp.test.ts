/**
 * RaftNode clusters over real TCP on loopback (one TcpTransport per member, as
 * one process each would have): election, replication, quiescing when idle, a
 * killed leader replaced within two election timeouts, catch-up from the log
 * and from a snapshot, and EBUSY under a flood.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RaftNode } from "../src/node/raft-node.js";
import { NodeCluster, bytes, codeOf, waitFor } from "./support/node-cluster.js";

const ELECTION_TIMEOUT_MS = 500;
/**
 * The kill test's members, one timeout each: in one process, nodes with the same
 * tick length share one timer and would all campaign in the same instant, where
 * separate processes tick out of phase. The limit is two of the longest.
 */
const KILL_TEST_ELECTION_TIMEOUTS_MS = [500, 530, 560];
const KILL_TEST_ELECTION_TIMEOUT_MS = Math.max(...KILL_TEST_ELECTION_TIMEOUTS_MS);
const TEST_TIMEOUT_MS = 30_000;

async function applyAll(leader: RaftNode, texts: readonly string[]): Promise<void> {
  await Promise.all(texts.map((text) => leader.apply({ data: bytes(text) })));
}

const members = (cluster: NodeCluster) => [...cluster.members.values()];

test("tcp: 3 nodes elect and replicate, quiesce when idle, and replace a killed leader within two election timeouts", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const cluster = await NodeCluster.create(3, {}, 7411, "tcp", (position) => ({ electionTimeoutMs: KILL_TEST_ELECTION_TIMEOUTS_MS[position]! }));
  try {
    const leader = await cluster.waitLeader();
    const written = Array.from({ length: 50 }, (_, i) => `w${i}`);
    await applyAll(leader, written);
    await waitFor(() => members(cluster).every((m) => m.sm.texts().length === written.length), 5000, "every member applied the writes");
    for (const member of members(cluster)) assert.deepEqual(member.sm.texts(), written, `${member.id} applied the same, in order (§5.3)`);

    await waitFor(() => members(cluster).every((m) => m.node.describe().quiesced), 5 * KILL_TEST_ELECTION_TIMEOUT_MS, "the idle group quiesced on every member");
    const framesBefore = members(cluster).map((m) => m.transport.stats().framesSent);
    await new Promise((resolve) => setTimeout(resolve, KILL_TEST_ELECTION_TIMEOUT_MS));
    const framesPerSecond = members(cluster).map((m, i) => ((m.transport.stats().framesSent - framesBefore[i]!) * 1000) / KILL_TEST_ELECTION_TIMEOUT_MS);
    // Quiesced, only the liveness probes go: one per peer process per tick (10 per election timeout) and their answers.
    for (const rate of framesPerSecond) assert.ok(rate <= 2 * 2 * (10_000 / KILL_TEST_ELECTION_TIMEOUT_MS) * 1.5, `frames/s while quiesced: ${rate}`);

    assert.deepEqual(leader.listAlivePeers(), cluster.initialIds, "quiesced, the peers still count as alive by their processes' probes");

    const killedId = leader.serverId;
    const killedAtMs = Date.now();
    await cluster.kill(killedId);
    let successor: RaftNode | null = null;
    await waitFor(() => (successor = members(cluster).find((m) => m.node.isLeader())?.node ?? null) !== null, 4 * KILL_TEST_ELECTION_TIMEOUT_MS, "a new leader");
    const electedAfterMs = Date.now() - killedAtMs;
    t.diagnostic(`new leader ${electedAfterMs} ms after the kill of a quiesced leader; frames/s while quiesced ${framesPerSecond.map((rate) => Math.round(rate)).join(", ")}`);
    assert.ok(electedAfterMs < 2 * KILL_TEST_ELECTION_TIMEOUT_MS, `a new leader ${electedAfterMs} ms after the kill (limit ${2 * KILL_TEST_ELECTION_TIMEOUT_MS})`);
    await successor!.apply({ data: bytes("after") });
    assert.deepEqual(successor!.listAlivePeers(), cluster.initialIds.filter((id) => id !== killedId));

    const restarted = await cluster.start(killedId);
    await waitFor(() => restarted.sm.texts().length === written.length + 1, 5000, "the restarted node catches up from the log");
    assert.deepEqual(restarted.sm.texts(), [...written, "after"]);
  } finally {
    await cluster.destroy();
  }
});

test("tcp: a follower restarted after the leader compacted its log catches up from a snapshot", { timeout: TEST_TIMEOUT_MS }, async () => {
  const cluster = await NodeCluster.create(3, { electionTimeoutMs: ELECTION_TIMEOUT_MS }, 7421, "tcp");
  try {
    const leader = await cluster.waitLeader();
    await applyAll(leader, ["a", "b"]);
    const followerId = cluster.followers()[0]!.serverId;
    await cluster.stop(followerId);
    const more = Array.from({ length: 30 }, (_, i) => `m${i}`);
    await applyAll(leader, more);
    const meta = await leader.snapshot();
    assert.ok(meta !== null && leader.describe().storedLog.firstIndex === meta.index + 1, "the leader compacted its log");
    await applyAll(leader, ["late"]);
    const follower = await cluster.start(followerId);
    await waitFor(() => follower.sm.texts().length === 33, 10_000, "the follower catches up");
    assert.deepEqual(follower.sm.texts(), ["a", "b", ...more, "late"]);
    assert.equal(follower.sm.snapshotsLoaded, 1, "through the snapshot");
  } finally {
    await cluster.destroy();
  }
});

test("tcp: a flood of tasks past maxPendingTasks is answered EBUSY at once, and the accepted ones apply", { timeout: TEST_TIMEOUT_MS }, async () => {
  const cluster = await NodeCluster.create(3, { electionTimeoutMs: ELECTION_TIMEOUT_MS, maxPendingTasks: 100, requestTimeoutMs: 20_000 }, 7431, "tcp");
  try {
    const leader = await cluster.waitLeader();
    const codes = await Promise.all(Array.from({ length: 10_000 }, (_, i) => codeOf(leader.apply({ data: bytes(`f${i}`) }))));
    const busy = codes.filter((code) => code === "EBUSY").length;
    const resolved = codes.filter((code) => code === "resolved").length;
    assert.ok(busy >= 9_000, `EBUSY ${busy}`);
    assert.equal(busy + resolved, codes.length, `other outcomes: ${[...new Set(codes)].join(", ")}`);
    await waitFor(() => members(cluster).every((m) => m.sm.applied.length === resolved), 5000, "the accepted tasks applied everywhere");
  } finally {
    await cluster.destroy();
  }
});

test("tcp: a quiesced leader whose followers all die steps down (check-quorum), however recently the group was busy", { timeout: TEST_TIMEOUT_MS }, async () => {
  const cluster = await NodeCluster.create(3, { electionTimeoutMs: ELECTION_TIMEOUT_MS }, 7441, "tcp");
  try {
    const leader = await cluster.waitLeader();
    await leader.apply({ data: bytes("x") });
    await waitFor(() => leader.describe().quiesced, 5 * ELECTION_TIMEOUT_MS, "the leader quiesced");
    for (const id of cluster.initialIds) if (id !== leader.serverId) await cluster.kill(id);
    await waitFor(() => !leader.isLeader(), 4 * ELECTION_TIMEOUT_MS, "the leader stepping down");
    assert.equal(await codeOf(leader.apply({ data: bytes("y") })), "ENOTLEADER");
  } finally {
    await cluster.destroy();
  }
});
