/**
 * The durable Raft log, as the node runtime uses it. Reads are synchronous
 * (recent entries come from a cache, older ones from disk) so that the core
 * can read through it; writes are asynchronous and durable when they resolve.
 *
 * An empty log has lastIndex() === firstIndex() - 1. A new log starts at 1.
 */
import type { Entry } from "../core/types.js";

export interface LogStorage {
  /** The first index held (or the index the next append starts at, when empty). */
  firstIndex(): number;
  /** The last index held, or firstIndex() - 1 when empty. */
  lastIndex(): number;
  /** The term of a held entry; undefined outside [firstIndex(), lastIndex()]. */
  term(index: number): number | undefined;
  /** A held entry, or undefined. */
  entry(index: number): Entry | undefined;
  /** Entries in [lo, hi) within the held range, stopping before `maxBytes` would be passed (but at least one). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * Appends durably: one write and one fdatasync for the batch (and for batches
   * that queue up meanwhile: group commit). entries[0].index may be at or below
   * lastIndex(): the held suffix from there is replaced (a conflict the core resolved).
   */
  append(entries: readonly Entry[]): Promise<void>;
  /** Drops every entry after `lastIndexKept`. */
  truncateSuffix(lastIndexKept: number): Promise<void>;
  /** Drops every entry before `firstIndexKept` (a snapshot covers them); whole segments go. */
  truncatePrefix(firstIndexKept: number): Promise<void>;
  /** Drops everything; the next append is at `nextIndex` (after a snapshot is installed). Atomic. */
  reset(nextIndex: number): Promise<void>;
  close(): Promise<void>;
}
