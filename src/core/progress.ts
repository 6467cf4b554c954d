/**
 * The leader's view of one follower's log (thesis §3.5, as etcd's tracker):
 * - probe: the match is unknown; one append at a time until one succeeds;
 * - replicate: the follower keeps up; appends are pipelined, bounded by the
 *   in-flight window (count and bytes);
 * - snapshot: the follower needs a snapshot; appends wait until it lands.
 */
import { invariant } from "./assert.js";

export type ProgressState = "probe" | "replicate" | "snapshot";

/** Appends sent and not yet acknowledged, oldest first. */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizes: number[] = [];
  private head = 0;
  private bytesInFlight = 0;

  get count(): number {
    return this.lastIndexes.length - this.head;
  }

  get bytes(): number {
    return this.bytesInFlight;
  }

  add(lastIndex: number, bytes: number): void {
    invariant(this.count === 0 || lastIndex > this.lastIndexes[this.lastIndexes.length - 1]!, "in-flight appends must grow");
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytesInFlight += bytes;
  }

  /** Forgets every append whose last index is at or below `index` (acknowledged). */
  freeUpTo(index: number): void {
    while (this.head < this.lastIndexes.length && this.lastIndexes[this.head]! <= index) {
      this.bytesInFlight -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.lastIndexes.length) {
      this.lastIndexes.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Frees the oldest slot, so that a window clogged by lost appends can probe again. */
  freeFirst(): void {
    if (this.count > 0) this.freeUpTo(this.lastIndexes[this.head]!);
  }

  isFull(maxCount: number, maxBytes: number): boolean {
    return this.count >= maxCount || this.bytesInFlight >= maxBytes;
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.head = 0;
    this.bytesInFlight = 0;
  }
}

export class Progress {
  /** Highest index known to be in the follower's log. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = "probe";
  /** In probe: an append is out, wait for its answer (or a heartbeat answer) before the next. */
  probeSent = false;
  /** The leader's tick of the last switch to replicate: at most one per tick (Leadership.handleAppendResponse). */
  replicateSinceTick = Number.MIN_SAFE_INTEGER;
  /** In snapshot: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The leader's tick when the follower last answered (set when tracking starts, as a grace period). */
  lastHeardTick = 0;
  /** Highest read sequence and send tick the follower acknowledged in the current term. */
  ackedReadSeq = 0;
  ackedSentTick = Number.MIN_SAFE_INTEGER;
  /** The commit index last sent to this follower. */
  sentCommit = 0;
  /** A commit index the follower waits for (a read it asked for): sent at the next flush even without entries. */
  commitWanted = 0;
  readonly inflights = new Inflights();
  /**
   * Appends this follower may have in flight besides the configured bound: halved by each fresh
   * rejection, grown by one per acknowledgement. On a network that reorders, a full window arrives
   * out of order and draws a rejection for nearly every append; a small window does not.
   */
  windowAppends = Number.POSITIVE_INFINITY;

  constructor(next: number) {
    this.next = next;
  }

  becomeProbe(): void {
    if (this.state === "snapshot") {
      // Resume right after the snapshot, or after what we know matches.
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = "probe";
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** Switches to pipelining at tick `now`. */
  becomeReplicate(now: number): void {
    this.replicateSinceTick = now;
    this.state = "replicate";
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = "snapshot";
    this.pendingSnapshot = snapshotIndex;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An append up to `index` succeeded. Returns false when the answer is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
      this.windowAppends += 1;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * An append with prevIndex `rejected` failed; the follower suggests its log
   * matches at most up to `matchHint`. Returns false when the rejection is stale.
   */
  maybeDecreaseTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      // A fresh rejection's hint is never below the match: the follower keeps what it acknowledged.
      // One below answers an append sent before that acknowledgement (the network reordered it).
      if (rejected <= this.match || matchHint < this.match) return false;
      this.windowAppends = Math.max(1, Math.floor(Math.min(this.windowAppends, this.inflights.count) / 2));
      this.next = this.match + 1;
      return true;
    }
    // In probe only the answer to the outstanding probe (prevIndex = next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append sent with entries up to `lastIndex`. */
  sentEntries(lastIndex: number, bytes: number, entryCount: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** In replicate: no room for another append within the window and the configured bounds. */
  windowFull(maxInflightAppends: number, maxInflightBytes: number): boolean {
    return this.inflights.isFull(Math.min(maxInflightAppends, this.windowAppends), maxInflightBytes);
  }

  isPaused(maxInflightAppends: number, maxInflightBytes: number): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.windowFull(maxInflightAppends, maxInflightBytes);
      case "snapshot":
        return true;
    }
  }
}
