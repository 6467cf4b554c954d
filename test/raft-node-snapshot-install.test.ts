/**
 * RaftNode snapshot install over the network (§7 InstallSnapshot): a follower
 * whose next entry the leader compacted away copies the leader's snapshot in
 * chunks, loads it and replicates on; a copy cut short resumes where it
 * stopped; a copy of a snapshot replaced mid-way fails, and the leader offers
 * the newer one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { SnapshotMeta } from "../src/core/types.js";
import type { RaftNode } from "../src/node/raft-node.js";
import { NodeCluster, bytes, waitFor, type Member } from "./support/node-cluster.js";

/** 1 MiB/s: a snapshot of about a megabyte takes a second to copy, slow enough to act mid-copy. */
const SLOW_COPY = { snapshotThrottleBytesPerSec: 1024 * 1024 };
const BIG_PAYLOAD_BYTES = 48 * 1024;

/** Applies `count` commands named `${prefix}${i}`, each padded to `padBytes`, and waits for them all. */
async function applyMany(leader: RaftNode, prefix: string, count: number, padBytes = 0): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  await Promise.all(names.map((name) => leader.apply({ data: bytes(`${name}|${"x".repeat(padBytes)}`) })));
  return names;
}

/** The command names a member applied, without their padding. */
const names = (member: Member): string[] => member.sm.texts().map((text) => text.split("|")[0]!);

async function snapshotOf(leader: RaftNode): Promise<SnapshotMeta> {
  const meta = await leader.snapshot();
  assert.ok(meta !== null, "the leader saves a snapshot");
  assert.equal(leader.describe().storedLog.firstIndex, meta.index + 1, "and compacts its log");
  return meta;
}

/** Stops one follower, lets the leader move on and compact; returns the follower's id and what was applied. */
async function leaveFollowerBehind(cluster: NodeCluster, padBytes: number): Promise<{ leader: RaftNode; followerId: string; applied: string[]; meta: SnapshotMeta }> {
  const leader = await cluster.waitLeader();
  const applied = await applyMany(leader, "early", 3);
  const followerId = cluster.followers()[0]!.serverId;
  await cluster.stop(followerId);
  applied.push(...(await applyMany(leader, "big", 24, padBytes)));
  const meta = await snapshotOf(leader);
  return { leader, followerId, applied, meta };
}

test("a follower far behind copies the leader's snapshot, loads it, then applies the entries after it", { timeout: 20_000 }, async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const { leader, followerId, applied, meta } = await leaveFollowerBehind(cluster, 1024);
    applied.push(...(await applyMany(leader, "late", 5)));
    const follower = await cluster.start(followerId);
    await waitFor(() => follower.sm.applied.length === applied.length, 10_000, "the follower catches up");
    assert.deepEqual(names(follower), applied);
    assert.equal(follower.sm.snapshotsLoaded, 1, "the state came in the snapshot");
    assert.equal(follower.node.describe().snapshot.lastIndex, meta.index);
    assert.equal(follower.node.describe().storedLog.firstIndex, meta.index + 1, "the follower's log starts after the snapshot");

    const install = follower.node.describe().snapshotInstall;
    assert.ok(install !== null);
    assert.equal(install.index, meta.index);
    assert.equal(install.leaderId, leader.serverId);
    assert.equal(install.state, "copied");
    assert.ok(install.bytesTotal > 24 * 1024, `the snapshot holds the state (${install.bytesTotal} bytes)`);
    assert.equal(install.bytesDone, install.bytesTotal);
    assert.equal(install.resumedAtBytes, 0);
    assert.ok(cluster.infos.some((line) => line.includes(`copying the snapshot at index ${meta.index}`)), "a log line at the start");
    assert.ok(cluster.infos.some((line) => line.includes(`copied the snapshot at index ${meta.index}`)), "and at the end");
    await waitFor(() => leader.describe().progress?.[followerId]?.state === "replicate", 5000, "the leader replicates to it again");

    await leader.apply({ data: bytes("after|") });
    await waitFor(() => names(follower).at(-1) === "after", 5000, "the follower keeps up");
  } finally {
    await cluster.destroy();
  }
});

test("a copy interrupted by a restart resumes where it stopped (the leader offers the snapshot again once no chunk is fetched)", { timeout: 20_000 }, async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const { leader, followerId, applied, meta } = await leaveFollowerBehind(cluster, BIG_PAYLOAD_BYTES);
    let follower = await cluster.start(followerId, { initial: false, options: SLOW_COPY });
    await waitFor(() => (follower.node.describe().snapshotInstall?.bytesDone ?? 0) >= 256 * 1024, 10_000, "a quarter of the copy");
    const midway = follower.node.describe().snapshotInstall!;
    assert.equal(midway.state, "copying");
    assert.equal(midway.index, meta.index);
    assert.ok(midway.bytesDone < midway.bytesTotal, `progress ${midway.bytesDone} of ${midway.bytesTotal} bytes`);
    await cluster.stop(followerId);

    follower = await cluster.start(followerId, { initial: false, options: SLOW_COPY });
    await waitFor(() => follower.sm.applied.length === applied.length, 15_000, "the restarted follower catches up");
    assert.deepEqual(names(follower), applied);
    const install = follower.node.describe().snapshotInstall!;
    assert.equal(install.state, "copied");
    assert.equal(install.index, meta.index);
    assert.ok(install.resumedAtBytes >= midway.bytesDone, `resumed at ${install.resumedAtBytes}, had ${midway.bytesDone}`);
    assert.ok(cluster.warnings.some((line) => line.includes(`${followerId} fetched nothing`)), "the leader's stall watch offered the snapshot again");

    await leader.apply({ data: bytes("after|") });
    await waitFor(() => names(follower).at(-1) === "after", 5000, "the follower keeps up");
  } finally {
    await cluster.destroy();
  }
});

test("a copy of a snapshot replaced mid-way fails; the follower says so and the leader offers the newer one at once", { timeout: 20_000 }, async () => {
  // A stall watch this slow never fires here: only the follower's snapshotStatus can bring the new offer.
  const cluster = await NodeCluster.create(3, { installSnapshotStallMs: 60_000 });
  try {
    const { leader, followerId, applied, meta: first } = await leaveFollowerBehind(cluster, BIG_PAYLOAD_BYTES);
    const follower = await cluster.start(followerId, { initial: false, options: SLOW_COPY });
    await waitFor(() => (follower.node.describe().snapshotInstall?.bytesDone ?? 0) > 0, 10_000, "the copy under way");
    applied.push(...(await applyMany(leader, "more", 3)));
    const second = await snapshotOf(leader);
    assert.ok(second.index > first.index);

    await waitFor(() => follower.sm.applied.length === applied.length, 15_000, "the follower catches up");
    assert.deepEqual(names(follower), applied);
    assert.equal(follower.sm.snapshotsLoaded, 1, "only the newer snapshot was loaded");
    const install = follower.node.describe().snapshotInstall!;
    assert.deepEqual([install.index, install.state], [second.index, "copied"]);
    assert.ok(
      cluster.warnings.some((line) => line.includes(`copying the snapshot at index ${first.index}`) && line.includes("failed") && line.includes("no longer served")),
      "the failed copy is logged with its cause",
    );
    assert.ok(!cluster.warnings.some((line) => line.includes("fetched nothing")), "the stall watch had no part in it");
  } finally {
    await cluster.destroy();
  }
});
