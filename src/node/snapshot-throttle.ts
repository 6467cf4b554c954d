/**
 * A cap on the bytes per second of snapshot copies, shared by every copy that
 * is given the same throttle (one per process, as SOFAJraft's
 * ThroughputSnapshotThrottle), so that catching up one follower, or many
 * groups at once, cannot take all of a disk's or a link's bandwidth away from
 * replication.
 *
 * It is a token bucket that stores no credit: each chunk reserves the next
 * `bytes / bytesPerSec` seconds of the budget and waits until its reservation
 * ends. Credit saved while idle would let copies that start together exceed
 * the cap, which is what the cap is for. Copies are served in order of
 * reservation. A wait cut short by an abort keeps its reservation (one chunk
 * of one copy at most), which only makes the others a little slower.
 */
import { RaftError } from "../errors.js";
import { delay } from "./abortable.js";

export class SnapshotThrottle {
  /** On the performance.now() clock: when the bytes reserved so far are paid for. */
  private budgetUsedUntilMs = 0;

  /** `bytesPerSec` 0 lets every copy run at full speed. */
  constructor(readonly bytesPerSec: number) {
    if (!Number.isSafeInteger(bytesPerSec) || bytesPerSec < 0) {
      throw new RaftError("EINVAL", `the snapshot throttle needs a whole number of bytes per second (0 = unlimited), got ${bytesPerSec}`);
    }
  }

  /** Waits until `bytes` more may be copied; rejects with the signal's reason when it aborts first. */
  async acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.bytesPerSec === 0 || bytes <= 0) return;
    const nowMs = performance.now();
    this.budgetUsedUntilMs = Math.max(this.budgetUsedUntilMs, nowMs) + (bytes * 1000) / this.bytesPerSec;
    await delay(this.budgetUsedUntilMs - nowMs, signal);
  }
}
