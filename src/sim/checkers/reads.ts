/**
 * Linearizable reads (§6.4): a read must observe every write acknowledged
 * before it was requested, so the index a ReadIndex answers with must be at
 * least the index of each such write. A write is acknowledged when the node
 * that proposed it applies it with the term propose() returned.
 */
import type { NodeId } from "../../core/types.js";
import { Violation } from "./violation.js";

export class ReadChecker {
  private highestAckedIndex = 0;
  writesAcked = 0;
  readsRequested = 0;
  readsAnswered = 0;
  readsServed = 0;

  writeAcknowledged(index: number): void {
    this.writesAcked++;
    if (index > this.highestAckedIndex) this.highestAckedIndex = index;
  }

  /** Returns the index the read must reach: the highest write acknowledged so far. */
  readRequested(): number {
    this.readsRequested++;
    return this.highestAckedIndex;
  }

  readIndexAnswered(nodeId: NodeId, context: string, readIndex: number, mustReach: number): void {
    this.readsAnswered++;
    if (readIndex < mustReach) {
      throw new Violation(
        "read-linearizability",
        `${nodeId} answered read ${context} with index ${readIndex}, but a write at ${mustReach} was acknowledged before the read began`,
      );
    }
  }

  /** The node serves the read from its state at `appliedIndex` (it waited until applied >= read index). */
  readServed(nodeId: NodeId, context: string, appliedIndex: number, readIndex: number): void {
    this.readsServed++;
    if (appliedIndex < readIndex) {
      throw new Violation("read-linearizability", `${nodeId} served read ${context} at applied ${appliedIndex} below its read index ${readIndex}`);
    }
  }
}
