/**
 * The core's log: the caller's durable log (read through LogReader) plus the
 * unstable tail the caller has not yet persisted, and the commit and apply
 * marks. Entries at or after `offset` are unstable; an unstable snapshot,
 * when present, replaces everything before it.
 */
import { invariant } from "./assert.js";
import type { LogReader } from "./log-reader.js";
import { entryBytes, type Entry, type SnapshotMeta } from "./types.js";

export class RaftLog {
  private unstableSnapshot: SnapshotMeta | null = null;
  private unstableEntries: Entry[] = [];
  /** Index of unstableEntries[0]; everything below is durable. */
  private offset: number;
  committed: number;
  /** Handed to the caller for applying, in the outstanding Ready. */
  applying: number;
  /** Applied, as acknowledged by advance(). */
  applied: number;

  constructor(
    readonly storage: LogReader,
    committed: number,
    applied: number,
  ) {
    this.offset = storage.lastIndex() + 1;
    const snapshotIndex = storage.snapshotMeta().index;
    invariant(committed <= storage.lastIndex(), () => `commit ${committed} is past the last durable index ${storage.lastIndex()}`);
    this.committed = Math.max(committed, snapshotIndex);
    this.applied = Math.max(applied, snapshotIndex);
    invariant(this.applied <= this.committed, () => `applied ${this.applied} is past commit ${this.committed}`);
    this.applying = this.applied;
  }

  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.offset + this.unstableEntries.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    invariant(term !== undefined, "the term of the last index is always known");
    return term;
  }

  /** The term at `index`, or undefined when compacted away or past the end. */
  term(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    if (index >= this.offset) return this.unstableEntries[index - this.offset]!.term;
    if (this.unstableSnapshot) {
      return index === this.unstableSnapshot.index ? this.unstableSnapshot.term : undefined;
    }
    return this.storage.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** The latest snapshot, pending or durable. */
  snapshotMeta(): SnapshotMeta {
    return this.unstableSnapshot ?? this.storage.snapshotMeta();
  }

  /** Entries in [lo, hi), stopping once `maxBytes` would be passed (but at least one). */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    invariant(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, () => `entries [${lo}, ${hi}) outside the log [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    if (lo >= hi) return [];
    const out: Entry[] = [];
    let bytes = 0;
    if (lo < this.offset) {
      const stored = this.storage.entries(lo, Math.min(hi, this.offset), maxBytes);
      for (const entry of stored) {
        bytes += entryBytes(entry);
        out.push(entry);
      }
      if (lo + stored.length < Math.min(hi, this.offset)) return out; // byte limit reached
    }
    for (let index = Math.max(lo, this.offset); index < hi; index++) {
      const entry = this.unstableEntries[index - this.offset]!;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Appends, replacing any conflicting suffix. Never touches committed entries. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    invariant(first > this.committed, () => `append at ${first} would overwrite committed entries (commit ${this.committed})`);
    invariant(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    if (first === this.offset + this.unstableEntries.length) {
      this.unstableEntries.push(...entries);
    } else if (first <= this.offset) {
      this.offset = first;
      this.unstableEntries = [...entries];
    } else {
      this.unstableEntries = this.unstableEntries.slice(0, first - this.offset).concat(entries);
    }
  }

  /** The index of the first entry that is new or conflicts with ours, or 0 when all match. */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index at or below `index` whose term is at most `term`, with
   * that term: where two logs can still agree (fast back-off, thesis §5.3 note).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    invariant(index <= this.lastIndex(), () => `commit ${index} is past the last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  unstable(): { snapshot: SnapshotMeta | null; entries: readonly Entry[] } {
    return { snapshot: this.unstableSnapshot, entries: this.unstableEntries };
  }

  /** The caller made entries up to (index, term) durable. */
  stableTo(index: number, term: number): void {
    if (index < this.offset || this.term(index) !== term) return; // replaced meanwhile: a later Ready carries it
    this.unstableEntries = this.unstableEntries.slice(index - this.offset + 1);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot?.index !== index) return;
    this.unstableSnapshot = null;
    this.applying = Math.max(this.applying, index);
    this.applied = Math.max(this.applied, index);
  }

  /** The last index the caller has made durable. */
  stableIndex(): number {
    return this.offset - 1;
  }

  /** Committed, durable entries not yet handed out for applying. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.unstableSnapshot) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = Math.min(this.committed, this.stableIndex()) + 1;
    if (lo >= hi) return [];
    return this.entries(lo, hi, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    if (this.unstableSnapshot) return false;
    return Math.min(this.committed, this.stableIndex()) > Math.max(this.applying, this.firstIndex() - 1);
  }

  /** Replaces the whole log with a snapshot received from the leader (§7). */
  restore(snapshot: SnapshotMeta): void {
    invariant(snapshot.index > this.committed, "a snapshot older than the commit index is never installed");
    this.committed = snapshot.index;
    this.unstableSnapshot = snapshot;
    this.unstableEntries = [];
    this.offset = snapshot.index + 1;
  }
}
