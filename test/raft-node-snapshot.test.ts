/** RaftNode snapshots (§7): on demand and by log margin, log compaction, restart from a snapshot, saving beside replication. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { SnapshotWriter } from "../src/storage/snapshot-writer.js";
import { NodeCluster, RecordingStateMachine, bytes, waitFor } from "./support/node-cluster.js";

test("snapshot on demand compacts the log; a restarted node loads it and replays the rest", async () => {
  const cluster = await NodeCluster.create(3);
  try {
    const leader = await cluster.waitLeader();
    for (let i = 0; i < 30; i++) await leader.apply({ data: bytes(`s${i}`) });
    const follower = cluster.followers()[0]!;
    await waitFor(() => follower.appliedIndex === leader.appliedIndex, 5000, "the follower applies everything");
    const meta = await follower.snapshot();
    assert.ok(meta !== null);
    assert.equal(meta.index, follower.appliedIndex);
    assert.equal(meta.term, leader.term);
    assert.deepEqual(meta.conf.voters, cluster.initialIds);
    const described = follower.describe();
    assert.equal(described.snapshot.lastIndex, meta.index);
    assert.equal(described.storedLog.firstIndex, meta.index + 1, "the log before the snapshot is gone");
    assert.equal(await follower.snapshot(), null, "nothing new to snapshot");

    for (let i = 30; i < 40; i++) await leader.apply({ data: bytes(`s${i}`) });
    await waitFor(() => follower.appliedIndex === leader.appliedIndex, 5000, "the follower applies the rest");
    await cluster.stop(follower.serverId);
    const restarted = await cluster.start(follower.serverId, { initial: true });
    assert.equal(restarted.sm.snapshotsLoaded, 1);
    await waitFor(() => restarted.sm.applied.length === 40, 5000, "the restarted node replays the log after its snapshot");
    assert.deepEqual(restarted.sm.texts(), Array.from({ length: 40 }, (_, i) => `s${i}`));
  } finally {
    await cluster.destroy();
  }
});

test("snapshots by log margin keep the log short on every member", async () => {
  const cluster = await NodeCluster.create(3, { snapshotLogIndexMargin: 10 });
  try {
    const leader = await cluster.waitLeader();
    for (let i = 0; i < 45; i++) await leader.apply({ data: bytes(`g${i}`) });
    await waitFor(
      () => [...cluster.members.values()].every((m) => m.node.appliedIndex === leader.appliedIndex && m.node.describe().snapshot.lastIndex >= leader.appliedIndex - 10),
      5000,
      "every member snapshots within the margin",
    );
    for (const member of cluster.members.values()) {
      const { storedLog, snapshot } = member.node.describe();
      assert.ok(snapshot.savedCount >= 3, `${member.id} saved ${snapshot.savedCount} snapshots`);
      assert.ok(storedLog.lastIndex - storedLog.firstIndex < 20, `${member.id} keeps ${storedLog.lastIndex - storedLog.firstIndex + 1} entries`);
    }
    // A restart of the whole cluster starts from the snapshots.
    for (const id of cluster.initialIds) await cluster.stop(id);
    for (const id of cluster.initialIds) await cluster.start(id, { initial: true });
    const next = await cluster.waitLeader();
    await next.apply({ data: bytes("last") });
    await waitFor(() => [...cluster.members.values()].every((m) => m.sm.texts().at(-1) === "last"), 5000, "everyone applies after the restart");
    for (const member of cluster.members.values()) {
      assert.equal(member.sm.snapshotsLoaded, 1);
      assert.deepEqual(member.sm.texts(), [...Array.from({ length: 45 }, (_, i) => `g${i}`), "last"]);
    }
  } finally {
    await cluster.destroy();
  }
});

/** A state machine whose snapshot save waits until the test opens the gate. */
class SlowSnapshotStateMachine extends RecordingStateMachine {
  open: () => void = () => {};
  saving = false;

  override async onSnapshotSave(writer: SnapshotWriter): Promise<void> {
    this.saving = true;
    await new Promise<void>((resolve) => {
      this.open = resolve;
    });
    await super.onSnapshotSave(writer);
  }
}

test("a follower saving a snapshot keeps replicating: it persists and acknowledges while its state machine writes", async () => {
  const cluster = await NodeCluster.create(3);
  const slow = new SlowSnapshotStateMachine();
  try {
    const leader = await cluster.waitLeader();
    for (let i = 0; i < 5; i++) await leader.apply({ data: bytes(`p${i}`) });
    const followerId = cluster.followers()[0]!.serverId;
    await cluster.stop(followerId);
    const member = await cluster.start(followerId, { initial: true, sm: slow });
    await waitFor(() => slow.applied.length === 5, 5000, "the follower catches up");
    const saving = member.node.snapshot();
    await waitFor(() => slow.saving, 5000, "the save starts");
    // Stop the other follower: the leader now needs the saving follower for every commit.
    const other = cluster.followers().find((n) => n.serverId !== followerId)!;
    await cluster.stop(other.serverId);
    for (let i = 5; i < 15; i++) await leader.apply({ data: bytes(`p${i}`) });
    // The leader committed those without the stopped follower: the saving one acknowledged them.
    assert.equal(slow.applied.length, 5, "nothing is applied while the state machine writes its snapshot");
    await waitFor(() => member.node.committedIndex >= leader.appliedIndex, 5000, "the saving follower learns the commit");
    slow.open();
    const meta = await saving;
    assert.ok(meta !== null && meta.index >= 6);
    await waitFor(() => slow.applied.length === 15, 5000, "the follower applies after the save");
  } finally {
    slow.open(); // a failed assertion must not leave the save, and so destroy(), hanging
    await cluster.destroy();
  }
});
