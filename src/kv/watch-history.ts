/**
 * The recent changes of the store, for watchers: the changes of each log
 * index as the store made them (one record per index, keys and values as the
 * store's strings), in log order, bounded by count and bytes; watch answers
 * build their events from them. The oldest log index's events go first, all
 * of them at once, so an index is either whole in the history or not at all;
 * an index whose events alone pass the bounds is not kept. A watcher asking
 * from an index older than the history holds learns so (ECOMPACTED) instead
 * of missing events silently.
 *
 * Not replicated state: after a restart or a snapshot load the history starts
 * at the applied index. Watchers wait for new indexes through waitForIndex(),
 * at most maxWaiters at a time.
 */
import { RaftError } from "../errors.js";
import type { WatchEvent, WatchResult } from "./commands.js";
import { BTree, keyBytes, keyName, valueBytes } from "./kv-key-tree.js";
import type { KvChangeEvent } from "./kv-store.js";
import { errorResult } from "./kv-results.js";
import { MAX_WATCH_HISTORY_EVENTS } from "./kv-validation.js";

export const DEFAULT_MAX_HISTORY_EVENTS = 100_000;
export const DEFAULT_MAX_HISTORY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_WATCH_WAITERS = 10_000;
/** What an event costs beside its key and value (objects, array slots). */
const EVENT_OVERHEAD_BYTES = 64;
/** The records' array is compacted once this many slots at its head are free (and they are at least half of it). */
const COMPACT_AFTER_SLOTS = 1024;

/** The changes of one log index (never none). */
interface IndexChanges {
  readonly index: number;
  readonly changes: readonly KvChangeEvent[];
  readonly bytes: number;
}

export interface WatchHistoryOptions {
  /** Events kept, at most MAX_WATCH_HISTORY_EVENTS. Default 100,000. */
  readonly maxEvents?: number;
  /** Bytes of events kept (keys, values, overhead). Default 64 MiB. */
  readonly maxBytes?: number;
  /** Watchers waiting at once; beyond, waitForIndex fails with EBUSY. Default 10,000. */
  readonly maxWaiters?: number;
}

interface Waiter {
  readonly resolve: (reached: boolean) => void;
  readonly index: number;
}

export class WatchHistory {
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly maxWaiters: number;
  /** Records from `head` on, by index ascending; slots before `head` are free. */
  private records: (IndexChanges | undefined)[] = [];
  private head = 0;
  private events = 0;
  private bytes = 0;
  /** Every event of an index from here on is kept. */
  private completeFromIndex: number;
  private lastIndex: number;
  /** Waiters by the index they wait for. */
  private readonly waiters = new BTree<number, Set<Waiter>>();
  private waiterCount = 0;

  /** Starts empty at `appliedIndex`: complete for the indexes after it. */
  constructor(appliedIndex: number, options: WatchHistoryOptions = {}) {
    this.maxEvents = boundedInteger(options.maxEvents ?? DEFAULT_MAX_HISTORY_EVENTS, "maxEvents", MAX_WATCH_HISTORY_EVENTS);
    this.maxBytes = boundedInteger(options.maxBytes ?? DEFAULT_MAX_HISTORY_BYTES, "maxBytes", Number.MAX_SAFE_INTEGER);
    this.maxWaiters = boundedInteger(options.maxWaiters ?? DEFAULT_MAX_WATCH_WAITERS, "maxWaiters", Number.MAX_SAFE_INTEGER);
    this.completeFromIndex = appliedIndex + 1;
    this.lastIndex = appliedIndex;
  }

  /** The last index appended (or the applied index at the start). */
  get appliedIndex(): number {
    return this.lastIndex;
  }

  /** The oldest index a watch can start from. */
  get oldestIndex(): number {
    return this.completeFromIndex;
  }

  get eventCount(): number {
    return this.events;
  }

  get waiting(): number {
    return this.waiterCount;
  }

  /** The changes of log index `index` (possibly none), after every index before it. The history keeps `changes`. */
  append(index: number, changes: readonly KvChangeEvent[]): void {
    if (index <= this.lastIndex) throw new RaftError("EINVAL", `watch history: index ${index} is not after the last one, ${this.lastIndex}`);
    this.lastIndex = index;
    if (changes.length > 0) {
      let bytes = 0;
      for (const change of changes) bytes += eventBytes(change);
      this.records.push({ index, changes, bytes });
      this.events += changes.length;
      this.bytes += bytes;
      while (this.events > this.maxEvents || this.bytes > this.maxBytes) this.dropOldestIndex();
    }
    this.wake(index);
  }

  /** Starts over at `appliedIndex` (after a snapshot load); waiters wake to ask again. */
  reset(appliedIndex: number): void {
    this.records = [];
    this.head = 0;
    this.events = 0;
    this.bytes = 0;
    this.completeFromIndex = appliedIndex + 1;
    this.lastIndex = appliedIndex;
    this.wake(Number.MAX_SAFE_INTEGER);
  }

  /**
   * The events at `fromIndex` and after for `key` (or, `prefix`, the keys
   * starting with it). The answer ends at the first index boundary after
   * maxEvents events; nextIndex is where to ask next.
   */
  eventsSince(fromIndex: number, key: Uint8Array, prefix: boolean, maxEvents: number): WatchResult {
    if (fromIndex < this.completeFromIndex && this.completeFromIndex > 1) {
      return errorResult(
        "ECOMPACTED",
        `the watch history no longer holds index ${fromIndex}: the oldest index kept is ${this.completeFromIndex} ` +
          `(it keeps the last ${this.maxEvents} events or ${this.maxBytes} bytes, and starts over when the server restarts or loads a snapshot); ` +
          `read the current state, then watch from index ${this.completeFromIndex} or later`,
      );
    }
    const found: WatchEvent[] = [];
    const wanted = keyName(key);
    for (let i = this.firstPositionAtOrAfter(fromIndex); i < this.records.length; i++) {
      const { index, changes } = this.records[i]!;
      if (found.length >= maxEvents) return { type: "events", events: found, nextIndex: found.at(-1)!.index + 1 };
      for (const change of changes) {
        if (prefix ? !change.keyName.startsWith(wanted) : change.keyName !== wanted) continue;
        found.push({ index, type: change.type, key: keyBytes(change.keyName), value: change.value === null ? null : valueBytes(change.value) });
      }
    }
    return { type: "events", events: found, nextIndex: Math.max(fromIndex, this.lastIndex + 1) };
  }

  /**
   * Resolves true once index `index` is appended (at once if it is), or after
   * a reset; false when `signal` aborts or cancelWaiters() is called.
   * EBUSY when maxWaiters already wait.
   */
  waitForIndex(index: number, signal?: AbortSignal): Promise<boolean> {
    if (index <= this.lastIndex) return Promise.resolve(true);
    if (signal?.aborted === true) return Promise.resolve(false);
    if (this.waiterCount >= this.maxWaiters) {
      return Promise.reject(new RaftError("EBUSY", `${this.waiterCount} watchers are already waiting (maxWaiters ${this.maxWaiters}); retry later`));
    }
    return new Promise<boolean>((resolve) => {
      const onAbort = (): void => {
        if (this.removeWaiter(waiter)) resolve(false);
      };
      const waiter: Waiter = {
        index,
        resolve: (reached) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(reached);
        },
      };
      const atIndex = this.waiters.get(index);
      if (atIndex === undefined) this.waiters.set(index, new Set([waiter]));
      else atIndex.add(waiter);
      this.waiterCount++;
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Resolves every waiter with false (the server is stopping). */
  cancelWaiters(): void {
    const all = this.takeWaitersUpTo(Number.MAX_SAFE_INTEGER);
    for (const waiter of all) waiter.resolve(false);
  }

  private wake(index: number): void {
    if (this.waiterCount === 0) return;
    for (const waiter of this.takeWaitersUpTo(index)) waiter.resolve(true);
  }

  private takeWaitersUpTo(index: number): Waiter[] {
    const taken: Waiter[] = [];
    for (;;) {
      const lowest = this.waiters.minKey();
      if (lowest === undefined || lowest > index) break;
      for (const waiter of this.waiters.get(lowest)!) taken.push(waiter);
      this.waiters.delete(lowest);
    }
    this.waiterCount -= taken.length;
    return taken;
  }

  private removeWaiter(waiter: Waiter): boolean {
    const atIndex = this.waiters.get(waiter.index);
    if (atIndex === undefined || !atIndex.delete(waiter)) return false;
    if (atIndex.size === 0) this.waiters.delete(waiter.index);
    this.waiterCount--;
    return true;
  }

  private dropOldestIndex(): void {
    const oldest = this.records[this.head]!;
    this.records[this.head] = undefined;
    this.head++;
    this.events -= oldest.changes.length;
    this.bytes -= oldest.bytes;
    this.completeFromIndex = oldest.index + 1;
    if (this.head >= COMPACT_AFTER_SLOTS && this.head * 2 >= this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
  }

  /** Binary search: records are in index order. */
  private firstPositionAtOrAfter(index: number): number {
    let low = this.head;
    let high = this.records.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.records[middle]!.index < index) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** Key names and stored values have one char per byte. */
function eventBytes(event: KvChangeEvent): number {
  return EVENT_OVERHEAD_BYTES + event.keyName.length + (event.value?.length ?? 0);
}

function boundedInteger(value: number, name: string, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new RaftError("EINVAL", `watch history option ${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  return value;
}
