/**
 * ReadIndex bookkeeping on the leader (thesis §6.4): each read remembers the
 * commit index when it arrived and a sequence number; a heartbeat round
 * carrying that sequence, acknowledged by a quorum, proves the leader was
 * still the leader, and releases every read up to it.
 */
import type { NodeId } from "./types.js";

export interface PendingRead {
  readonly context: string;
  readonly index: number;
  readonly seq: number;
  /** The follower that asked, or null when the read is local. */
  readonly from: NodeId | null;
}

export class ReadIndexQueue {
  private pending: PendingRead[] = [];
  private lastSeq = 0;
  /** The highest sequence already sent in a heartbeat round. */
  private broadcastSeq = 0;

  get size(): number {
    return this.pending.length;
  }

  add(context: string, index: number, from: NodeId | null): PendingRead {
    const read = { context, index, seq: ++this.lastSeq, from };
    this.pending.push(read);
    return read;
  }

  /** The sequence a heartbeat should carry, and whether a round is needed for reads not yet announced. */
  latestSeq(): number {
    return this.lastSeq;
  }

  needsBroadcast(): boolean {
    return this.pending.length > 0 && this.broadcastSeq < this.lastSeq;
  }

  markBroadcast(seq: number): void {
    this.broadcastSeq = Math.max(this.broadcastSeq, seq);
  }

  /** Removes and returns the reads a quorum has confirmed (seq <= confirmedSeq). */
  release(confirmedSeq: number): PendingRead[] {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.seq <= confirmedSeq) n++;
    if (n === 0) return [];
    return this.pending.splice(0, n);
  }

  /** Removes every read (leadership lost); the caller fails them. */
  drain(): PendingRead[] {
    const all = this.pending;
    this.pending = [];
    return all;
  }
}
