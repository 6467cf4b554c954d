/**
 * The newest entries of the log, held in memory: the contiguous run
 * [firstIndex, lastIndex()] ending at the log's last index. Entries not yet
 * written to disk are always here; written ones are evicted oldest first once
 * the cache passes its byte budget.
 */
import { entryBytes, type Entry } from "../core/types.js";

/** Below this many dead slots the array is not worth compacting. */
const COMPACT_MIN_SLOTS = 1024;

export class EntryCache {
  private slots: Entry[] = [];
  /** slots[head] has index firstIndex. */
  private head = 0;
  private bytes = 0;

  constructor(private first: number) {}

  get firstIndex(): number {
    return this.first;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  lastIndex(): number {
    return this.first + this.slots.length - this.head - 1;
  }

  get(index: number): Entry | undefined {
    if (index < this.first) return undefined;
    return this.slots[this.head + index - this.first];
  }

  push(entry: Entry): void {
    this.slots.push(entry);
    this.bytes += entryBytes(entry);
  }

  /** Drops the entries after `lastIndexKept`; if none is kept the cache becomes empty, to continue at lastIndexKept + 1. */
  truncateAfter(lastIndexKept: number): void {
    if (lastIndexKept < this.first) {
      this.clear(lastIndexKept + 1);
      return;
    }
    const keep = this.head + lastIndexKept - this.first + 1;
    for (let i = keep; i < this.slots.length; i++) this.bytes -= entryBytes(this.slots[i]!);
    this.slots.length = Math.min(keep, this.slots.length);
  }

  /** Drops entries before `index` (they were compacted away). */
  dropBefore(index: number): void {
    if (index > this.lastIndex()) {
      this.clear(index);
      return;
    }
    while (this.first < index) this.shift();
    this.compact();
  }

  /** Evicts the oldest entries, none after `evictableIndex`, until the cache fits in `maxBytes`. */
  evict(maxBytes: number, evictableIndex: number): void {
    while (this.bytes > maxBytes && this.first <= evictableIndex && this.head < this.slots.length) this.shift();
    this.compact();
  }

  clear(nextIndex: number): void {
    this.slots = [];
    this.head = 0;
    this.bytes = 0;
    this.first = nextIndex;
  }

  private shift(): void {
    const entry = this.slots[this.head]!;
    this.bytes -= entryBytes(entry);
    (this.slots as (Entry | undefined)[])[this.head] = undefined; // let the payload be collected now
    this.head++;
    this.first++;
  }

  private compact(): void {
    if (this.head >= COMPACT_MIN_SLOTS && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
  }
}
