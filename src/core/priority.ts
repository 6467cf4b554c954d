/**
 * Priority election as SOFAJraft defines it: each peer has a priority (-1
 * disabled, 0 never leader); only a peer at or above the target priority
 * (the highest among the voters) starts an election, and the target decays
 * when election timeouts pass without a leader, so a lower peer runs in the end.
 */
import type { NodeId } from "./types.js";

export class ElectionPriority {
  private target = -1;
  private timeoutsBelowTarget = 0;

  constructor(
    private readonly priorityOf: (id: NodeId) => number,
    private readonly decayGap: number,
  ) {}

  /** A leader was heard from, or the voters changed: back to the highest priority. */
  reset(voters: readonly NodeId[]): void {
    let target = -1;
    for (const id of voters) target = Math.max(target, this.priorityOf(id));
    this.target = target;
    this.timeoutsBelowTarget = 0;
  }

  /** Called at an election timeout: may `self` start an election now? */
  allowsElection(self: NodeId): boolean {
    const priority = this.priorityOf(self);
    if (priority === -1) return true;
    if (priority === 0) return false;
    if (priority >= this.target) return true;
    this.timeoutsBelowTarget++;
    if (this.timeoutsBelowTarget > 1) {
      const gap = Math.max(this.decayGap, Math.floor(this.target / 5));
      this.target = Math.max(1, this.target - gap);
      this.timeoutsBelowTarget = 0;
    }
    return priority >= this.target;
  }
}
