/**
 * The core's LogReader over the node's storage: the SegmentLog holds the
 * entries, the snapshot store the latest snapshot. After a snapshot the log
 * may still hold entries it covers (or, after an install from the leader,
 * none at all); this view hides the difference, so the core sees one log that
 * starts right after the snapshot.
 */
import type { LogReader } from "../core/log-reader.js";
import type { Entry, SnapshotMeta } from "../core/types.js";
import type { SegmentLog } from "../storage/segment-log.js";

/** What a node that has no snapshot reports: the membership comes from the log's configuration entries. */
export const BOOTSTRAP_SNAPSHOT_META: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], outgoing: [], learners: [] } };

export class DurableLog implements LogReader {
  constructor(
    readonly log: SegmentLog,
    private snapshot: SnapshotMeta = BOOTSTRAP_SNAPSHOT_META,
  ) {}

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  /** A newer snapshot is published (taken locally or installed from the leader); older ones never replace it. */
  setSnapshot(meta: SnapshotMeta): void {
    if (meta.index > this.snapshot.index) this.snapshot = meta;
  }

  firstIndex(): number {
    return Math.max(this.log.firstIndex(), this.snapshot.index + 1);
  }

  lastIndex(): number {
    return Math.max(this.log.lastIndex(), this.snapshot.index);
  }

  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index) return undefined;
    return this.log.term(index);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.log.entries(lo, hi, maxBytes);
  }
}
