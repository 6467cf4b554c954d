/**
 * An in-memory LogReader with the write side the caller needs, for tests and
 * the simulator. The durable implementation on segment files follows the same contract.
 */
import { invariant } from "../core/assert.js";
import type { LogReader } from "../core/log-reader.js";
import { entryBytes, type ConfState, type Entry, type SnapshotMeta } from "../core/types.js";

export class MemoryLog implements LogReader {
  private snapshot: SnapshotMeta;
  /** entries[0] has index snapshot.index + 1. */
  private log: Entry[] = [];

  constructor(bootstrap: ConfState) {
    this.snapshot = { index: 0, term: 0, conf: bootstrap };
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.log.length;
  }

  term(index: number): number | undefined {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index || index > this.lastIndex()) return undefined;
    return this.log[index - this.snapshot.index - 1]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    invariant(lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi, () => `entries(${lo}, ${hi}) outside [${this.firstIndex()}, ${this.lastIndex() + 1}]`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.log[index - this.snapshot.index - 1]!;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /** Appends, first dropping any entries at or after entries[0].index (a conflict the core resolved). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    invariant(first > this.snapshot.index && first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.log.length = first - this.snapshot.index - 1;
    for (const entry of entries) {
      invariant(entry.index === this.lastIndex() + 1, "appended entries must be contiguous");
      this.log.push(entry);
    }
  }

  /** Records a snapshot taken locally at `meta.index` and drops the entries it covers. */
  compact(meta: SnapshotMeta): void {
    invariant(meta.index <= this.lastIndex(), () => `snapshot at ${meta.index} is past the log end ${this.lastIndex()}`);
    if (meta.index <= this.snapshot.index) return;
    invariant(this.term(meta.index) === meta.term, () => `snapshot term ${meta.term} does not match the log at ${meta.index}`);
    this.log = this.log.slice(meta.index - this.snapshot.index);
    this.snapshot = meta;
  }

  /** Installs a snapshot received from the leader: the whole log is replaced by it. */
  installSnapshot(meta: SnapshotMeta): void {
    this.snapshot = meta;
    this.log = [];
  }
}
