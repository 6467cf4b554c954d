/**
 * The leader's safety net for snapshot installs. The core keeps a peer in the
 * snapshot state until it hears how the install went: normally the follower's
 * answer after installing, or its snapshotStatus reject when the copy failed.
 * Either may be lost, and a follower that restarted mid-copy has forgotten the
 * snapshot message. So a peer that fetches no manifest or chunk for `stallMs`
 * is reported failed, and the leader offers it a snapshot again (the newest
 * by then); a slow copy that keeps fetching is left alone.
 */
import type { NodeId } from "../core/types.js";
import { parsePeerId } from "../transport/peer-address.js";

interface Waiting {
  readonly index: number;
  readonly address: string | null;
  lastActivityMs: number;
}

export class SnapshotStallWatch {
  /** The peers waiting for a snapshot, as last seen on a tick. */
  private readonly waiting = new Map<NodeId, Waiting>();

  constructor(private readonly stallMs: number) {}

  /**
   * On each tick, with the peers now waiting for a snapshot (and its index):
   * returns those that stalled, and forgets them, so a new offer is watched afresh.
   */
  stalled(pending: readonly { peer: NodeId; index: number }[], nowMs: number): NodeId[] {
    if (pending.length === 0 && this.waiting.size === 0) return [];
    const stalled: NodeId[] = [];
    const current = new Set<NodeId>();
    for (const { peer, index } of pending) {
      current.add(peer);
      const waiting = this.waiting.get(peer);
      if (waiting === undefined || waiting.index !== index) {
        this.waiting.set(peer, { index, address: addressOf(peer), lastActivityMs: nowMs });
      } else if (nowMs - waiting.lastActivityMs >= this.stallMs) {
        stalled.push(peer);
        this.waiting.delete(peer);
      }
    }
    for (const peer of this.waiting.keys()) if (!current.has(peer)) this.waiting.delete(peer);
    return stalled;
  }

  /** The snapshot service served a manifest or chunk of this group to `requesterAddress`. */
  served(requesterAddress: string, nowMs: number): void {
    for (const waiting of this.waiting.values()) if (waiting.address === requesterAddress) waiting.lastActivityMs = nowMs;
  }
}

/** A peer id that is not `host:port[...]` fetches nothing from us: it is only ever timed out. */
function addressOf(peer: NodeId): string | null {
  try {
    return parsePeerId(peer).address;
  } catch {
    return null;
  }
}
