/**
 * Wakes a node's quiesced core when the liveness watch of the process sees a
 * member's process go down, come back or restart (see PeerLiveness and
 * CoreOptions.quiesce). It watches exactly the processes of the current
 * members, and follows membership changes.
 */
import type { RaftCore } from "../core/raft.js";
import type { NodeId } from "../core/types.js";
import { parsePeerId } from "../transport/peer-address.js";
import type { LivenessEvent, PeerLiveness } from "./peer-liveness.js";

export class QuiescenceWatch {
  /** Member address -> unwatch. */
  private readonly watched = new Map<string, () => void>();
  private readonly ownAddress: string;
  private seenConfVersion = -1;
  private stopEvents: (() => void) | null = null;

  constructor(
    private readonly core: RaftCore,
    private readonly liveness: PeerLiveness,
    selfId: NodeId,
    /** Called after a wake: the core has messages to send. */
    private readonly woke: (reason: string) => void,
  ) {
    this.ownAddress = parsePeerId(selfId).address;
  }

  start(): void {
    this.stopEvents ??= this.liveness.onChange((address, event) => this.onPeerEvent(address, event));
    this.followMembership();
  }

  /** Cheap when nothing changed: call on every tick. */
  followMembership(): void {
    if (this.core.confVersion === this.seenConfVersion) return;
    this.seenConfVersion = this.core.confVersion;
    const addresses = new Set<string>();
    for (const id of this.core.members()) {
      const address = parsePeerId(id).address;
      if (address !== this.ownAddress) addresses.add(address);
    }
    for (const [address, unwatch] of this.watched) {
      if (addresses.has(address)) continue;
      unwatch();
      this.watched.delete(address);
    }
    for (const address of addresses) if (!this.watched.has(address)) this.watched.set(address, this.liveness.watch(address));
  }

  /** Whether the process of `peer`, a member, answers the liveness probe. */
  processAnswers(peer: NodeId): boolean {
    const address = parsePeerId(peer).address;
    return this.watched.has(address) && this.liveness.isAlive(address);
  }

  stop(): void {
    this.stopEvents?.();
    this.stopEvents = null;
    for (const unwatch of this.watched.values()) unwatch();
    this.watched.clear();
    this.seenConfVersion = -1;
  }

  private onPeerEvent(address: string, event: LivenessEvent): void {
    if (!this.watched.has(address)) return;
    const leader = this.core.leaderId;
    const leaderSuspected = event !== "up" && leader !== null && leader !== this.core.id && parsePeerId(leader).address === address;
    // Told even when awake: a leader about to quiesce must not count a peer that just died.
    const wasQuiesced = this.core.quiesced;
    this.core.wake(leaderSuspected);
    if (wasQuiesced) this.woke(`the process at ${address} ${event === "down" ? "stopped answering" : event === "up" ? "answers again" : "restarted"}`);
  }
}
