/**
 * A node's place in its group while it runs: registered with the transport and
 * the NodeManager, serving its snapshots to followers, ticking, watching the
 * members' processes (when quiescing) and saving snapshots on a timer. Leaving,
 * at shutdown or on a halt, undoes all of it once.
 */
import type { Message } from "../core/messages.js";
import type { RaftCore } from "../core/raft.js";
import type { SnapshotStore } from "../storage/snapshot-store.js";
import { nodeManager } from "./node-manager.js";
import type { ResolvedNodeOptions } from "./options.js";
import type { QuiescenceWatch } from "./quiescence-watch.js";
import type { RaftNode } from "./raft-node.js";
import { joinTicker } from "./shared-ticker.js";
import type { SnapshotInstaller } from "./snapshot-installer.js";
import { serveNodeSnapshots } from "./snapshot-serving.js";

export interface Participant {
  readonly node: RaftNode;
  readonly options: ResolvedNodeOptions;
  readonly core: RaftCore;
  readonly snapshotStore: SnapshotStore;
  readonly installer: SnapshotInstaller;
  /** Null when quiescing is off. */
  readonly quiescence: QuiescenceWatch | null;
  receive(message: Message): void;
  tick(): void;
  /** Every snapshotIntervalSecs (when above 0). */
  snapshotDue(): void;
  /** A manifest or chunk of this node's snapshot went to `requesterAddress`. */
  snapshotServed(requesterAddress: string): void;
  send(messages: readonly Message[]): void;
}

export class GroupParticipation {
  private isJoined = false;
  private stopServingSnapshots: (() => void) | null = null;
  private leaveTicker: (() => void) | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;

  constructor(private readonly participant: Participant) {}

  /** Registered with the transport and ticking. */
  get joined(): boolean {
    return this.isJoined;
  }

  join(): void {
    const { node, options, quiescence } = this.participant;
    const { transport, groupId, serverId, tickMs, snapshotIntervalSecs } = options;
    const stopServing = serveNodeSnapshots(transport, {
      groupId,
      store: this.participant.snapshotStore,
      isLeader: () => node.isLeader(),
      snapshotServed: (requesterAddress) => this.participant.snapshotServed(requesterAddress),
    });
    try {
      transport.registerGroup(groupId, serverId, (message) => this.participant.receive(message));
    } catch (error) {
      stopServing();
      throw error;
    }
    this.stopServingSnapshots = stopServing;
    this.isJoined = true;
    nodeManager.add(node, transport);
    this.leaveTicker = joinTicker(tickMs, () => this.participant.tick());
    quiescence?.start();
    if (snapshotIntervalSecs > 0) {
      this.snapshotTimer = setInterval(() => this.participant.snapshotDue(), snapshotIntervalSecs * 1000);
      this.snapshotTimer.unref();
    }
  }

  leave(): void {
    if (!this.isJoined) return;
    const { node, options, core, quiescence } = this.participant;
    this.isJoined = false;
    this.leaveTicker?.();
    this.leaveTicker = null;
    quiescence?.stop();
    // Followers of a quiesced leader would wait for a liveness event that a live process never gives.
    if (core.quiesced && core.role === "leader") {
      core.wake(false);
      this.participant.send(core.takeMessages());
    }
    if (this.snapshotTimer !== null) clearInterval(this.snapshotTimer);
    this.snapshotTimer = null;
    options.transport.unregisterGroup(options.groupId, options.serverId);
    this.stopServingSnapshots?.();
    this.stopServingSnapshots = null;
    void this.participant.installer.stop(); // awaited by shutdown; a halted node just lets the copy go
    nodeManager.remove(node, options.transport);
  }
}
