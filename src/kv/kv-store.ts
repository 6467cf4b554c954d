/**
 * The KV store itself: pure and synchronous. Data keys in an ordered map,
 * sequences and locks in tables of their own. The same operations on the
 * same store give the same results on every replica: no clock (time comes in
 * as timeMs), no randomness, and bad semantic input (a merge past the value
 * limit, a sequence past 2^53) is an error result, never a throw.
 *
 * Operations must be well-formed (kv-validation.ts); the decoders guarantee
 * it. Results hold copies of the values; events hold the store's own strings.
 */
import { MAX_VALUE_BYTES, type KvEntry, type ReadOp, type ReadResult, type WatchEvent, type WriteOp, type WriteResult } from "./commands.js";
import { compareKeys, keyName, KeyTree, storedValue, valueBytes } from "./kv-key-tree.js";
import { LockTable, type LockRecord } from "./kv-lock-table.js";
import { OK_RESULT, errorResult } from "./kv-results.js";

/**
 * A change a write made, for watchers; the state machine adds the log index.
 * Key and value are the store's own strings (keyName, storedValue), not
 * copies: the watch history keeps every change.
 */
export interface KvChangeEvent {
  readonly type: WatchEvent["type"];
  readonly keyName: string;
  /** As the store keeps it (storedValue); null for a delete. */
  readonly value: string | null;
}

export interface WriteOutcome {
  readonly result: WriteResult;
  /** In the order the write made them; none when nothing changed. */
  readonly events: readonly KvChangeEvent[];
}

/** Everything the store holds, as a snapshot writes and reads it. */
export interface KvStoreContents {
  readonly data: KeyTree<string>;
  readonly sequences: KeyTree<number>;
  readonly locks: KeyTree<LockRecord>;
  readonly fencingCounter: number;
}

const NO_EVENTS: readonly KvChangeEvent[] = Object.freeze([]);
const EMPTY_VALUE = Buffer.alloc(0);

export class KvStore {
  private readonly data: KeyTree<string>;
  private readonly sequences: KeyTree<number>;
  private readonly locks: LockTable;

  /** Takes ownership of `contents` (from a snapshot); empty by default. */
  constructor(contents?: KvStoreContents) {
    this.data = contents?.data ?? new KeyTree();
    this.sequences = contents?.sequences ?? new KeyTree();
    this.locks = new LockTable(contents?.locks, contents?.fencingCounter);
  }

  get keyCount(): number {
    return this.data.size;
  }

  get sequenceCount(): number {
    return this.sequences.size;
  }

  get lockCount(): number {
    return this.locks.size;
  }

  get lastFencingToken(): number {
    return this.locks.lastFencingToken;
  }

  /** For a snapshot: the live tables, in key order (values as stored: valueBytes gives their bytes); nothing may change them while they are read. */
  dataEntries(): IterableIterator<[Uint8Array, string]> {
    return this.data.entries();
  }

  sequenceEntries(): IterableIterator<[Uint8Array, number]> {
    return this.sequences.entries();
  }

  lockEntries(): IterableIterator<[Uint8Array, LockRecord]> {
    return this.locks.records();
  }

  applyWrite(op: WriteOp, timeMs: number): WriteOutcome {
    switch (op.type) {
      case "put":
        return { result: OK_RESULT, events: [this.put(op.key, op.value)] };
      case "putAll":
        return { result: OK_RESULT, events: op.entries.map((entry) => this.put(entry.key, entry.value)) };
      case "getAndPut": {
        const before = this.valueOf(op.key);
        return { result: { type: "value", value: before }, events: [this.put(op.key, op.value)] };
      }
      case "compareAndPut":
        return this.compareAndPutAll([op]);
      case "compareAndPutAll":
        return this.compareAndPutAll(op.entries);
      case "putIfAbsent": {
        const before = this.valueOf(op.key);
        if (before !== null) return { result: { type: "value", value: before }, events: NO_EVENTS };
        return { result: { type: "value", value: null }, events: [this.put(op.key, op.value)] };
      }
      case "merge":
        return this.merge(op.key, op.value);
      case "delete": {
        const event = this.delete(op.key);
        return { result: { type: "bool", value: event !== null }, events: event === null ? NO_EVENTS : [event] };
      }
      case "deleteAll": {
        const events: KvChangeEvent[] = [];
        for (const key of op.keys) {
          const event = this.delete(key);
          if (event !== null) events.push(event);
        }
        return { result: { type: "count", value: events.length }, events };
      }
      case "deleteRange":
        return this.deleteRange(op.start, op.end);
      case "getSequence":
        return { result: this.getSequence(op.key, op.step), events: NO_EVENTS };
      case "resetSequence": {
        const before = this.sequences.get(op.key) ?? 0;
        this.sequences.delete(op.key);
        return { result: { type: "count", value: before }, events: NO_EVENTS };
      }
      case "lockAcquire":
        return { result: this.locks.acquire(op.key, op.owner, op.leaseMs, timeMs), events: NO_EVENTS };
      case "lockRenew":
        return { result: this.locks.renew(op.key, op.owner, op.token, op.leaseMs, timeMs), events: NO_EVENTS };
      case "lockRelease":
        return { result: this.locks.release(op.key, op.owner, op.token, timeMs), events: NO_EVENTS };
    }
  }

  read(op: ReadOp): ReadResult {
    switch (op.type) {
      case "get":
        return { type: "value", value: this.valueOf(op.key) };
      case "multiGet":
        return { type: "values", values: op.keys.map((key) => this.valueOf(key)) };
      case "containsKey":
        return { type: "bool", value: this.data.has(op.key) };
      case "scan":
        return { type: "entries", entries: op.reverse ? this.scanDown(op.start, op.end, op.limit, op.keysOnly) : this.scanUp(op.start, op.end, op.limit, op.keysOnly) };
    }
  }

  private valueOf(key: Uint8Array): Buffer | null {
    const stored = this.data.get(key);
    return stored === undefined ? null : valueBytes(stored);
  }

  private put(key: Uint8Array, value: Uint8Array): KvChangeEvent {
    const name = keyName(key);
    const stored = storedValue(value);
    this.data.setNamed(name, stored);
    return { type: "put", keyName: name, value: stored };
  }

  private delete(key: Uint8Array): KvChangeEvent | null {
    const name = keyName(key);
    return this.data.deleteNamed(name) ? { type: "delete", keyName: name, value: null } : null;
  }

  /** Every expectation is checked against the state before the operation; then all are written, or none. */
  private compareAndPutAll(entries: readonly { key: Uint8Array; expect: Uint8Array | null; value: Uint8Array }[]): WriteOutcome {
    for (const entry of entries) {
      const current = this.data.get(entry.key);
      const holds = entry.expect === null ? current === undefined : current === storedValue(entry.expect);
      if (!holds) return { result: { type: "bool", value: false }, events: NO_EVENTS };
    }
    return { result: { type: "bool", value: true }, events: entries.map((entry) => this.put(entry.key, entry.value)) };
  }

  private merge(key: Uint8Array, suffix: Uint8Array): WriteOutcome {
    const before = this.data.get(key);
    const mergedBytes = (before?.length ?? 0) + suffix.byteLength;
    if (mergedBytes > MAX_VALUE_BYTES) {
      return { result: errorResult("EINVAL", `merge: the value would grow to ${mergedBytes} bytes, above MAX_VALUE_BYTES ${MAX_VALUE_BYTES}; nothing was written`), events: NO_EVENTS };
    }
    // Through bytes, not string concatenation: a value merged into many times would be a deep rope.
    const merged = storedValue(before === undefined ? suffix : Buffer.concat([valueBytes(before), suffix], mergedBytes));
    const name = keyName(key);
    this.data.setNamed(name, merged);
    return { result: OK_RESULT, events: [{ type: "put", keyName: name, value: merged }] };
  }

  private deleteRange(start: Uint8Array, end: Uint8Array): WriteOutcome {
    const events: KvChangeEvent[] = [];
    if (compareKeys(start, end) < 0) {
      for (const name of this.data.deleteRange(start, end)) events.push({ type: "delete", keyName: name, value: null });
    }
    return { result: { type: "count", value: events.length }, events };
  }

  /** Reserves [current, current + step); step 0 reads the current value without creating the sequence. */
  private getSequence(key: Uint8Array, step: number): WriteResult {
    const start = this.sequences.get(key) ?? 0;
    if (step === 0) return { type: "sequence", start, end: start };
    const end = start + step;
    if (end > Number.MAX_SAFE_INTEGER) {
      return errorResult("EINVAL", `getSequence: reserving ${step} from ${start} would pass 2^53 - 1 (Number.MAX_SAFE_INTEGER); resetSequence starts it over at 0`);
    }
    this.sequences.set(key, end);
    return { type: "sequence", start, end };
  }

  private scanUp(start: Uint8Array, end: Uint8Array | null, limit: number, keysOnly: boolean): KvEntry[] {
    const entries: KvEntry[] = [];
    if (end !== null && compareKeys(start, end) >= 0) return entries;
    for (const [key, value] of this.data.entries(start)) {
      if (entries.length >= limit || (end !== null && compareKeys(key, end) >= 0)) break;
      entries.push({ key, value: keysOnly ? EMPTY_VALUE : valueBytes(value) });
    }
    return entries;
  }

  /** From the last key below `end` (or the last key) down to `start`. */
  private scanDown(start: Uint8Array, end: Uint8Array | null, limit: number, keysOnly: boolean): KvEntry[] {
    const entries: KvEntry[] = [];
    if (end !== null && compareKeys(start, end) >= 0) return entries;
    const pairs = this.data.entriesBelow(end ?? undefined);
    for (const [key, value] of pairs) {
      if (entries.length >= limit || compareKeys(key, start) < 0) break;
      entries.push({ key, value: keysOnly ? EMPTY_VALUE : valueBytes(value) });
    }
    return entries;
  }
}
