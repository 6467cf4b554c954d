/**
 * The core's read-only view of the durable log. The caller owns the storage:
 * it appends what a Ready hands it, installs snapshots and compacts; the core
 * only reads. Reads must be synchronous (recent entries come from a cache).
 */
import type { Entry, SnapshotMeta } from "./types.js";

export interface LogReader {
  /** The latest snapshot (index 0, term 0 and the bootstrap membership when there is none). */
  snapshotMeta(): SnapshotMeta;
  /** The first index still in the log: snapshotMeta().index + 1 once compacted. */
  firstIndex(): number;
  /** The last index in the log, or snapshotMeta().index when the log is empty. */
  lastIndex(): number;
  /** The term at `index`, for snapshotMeta().index <= index <= lastIndex(); undefined outside. */
  term(index: number): number | undefined;
  /**
   * Entries in [lo, hi), firstIndex() <= lo <= hi <= lastIndex() + 1. Stops early
   * once the next entry would pass `maxBytes`, but always returns at least one entry when lo < hi.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
}
