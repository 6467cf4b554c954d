/**
 * The ordered maps of the store: byte keys sorted as unsigned bytes, on
 * sorted-btree's B+ tree, with a hash index beside it for point reads and
 * writes. Inside, a key is held as a latin1 string (one char per byte):
 * JavaScript orders such strings exactly as the bytes, the engine compares
 * and hashes them natively, and a string is owned by the tree without a copy
 * of the caller's buffer.
 *
 * Both structures share one mutable slot per key, so overwriting a key (the
 * common write) is a hash lookup and never touches the tree; only a new or
 * deleted key changes it. In the servers' CPU profiles the tree's sets were
 * the largest share of applying a put. The index costs a Map entry per key.
 */
import sortedBtree from "sorted-btree";

// sorted-btree is CommonJS: the class is its default export's `default` (sessions and the watch history use it too).
export const BTree = sortedBtree.default;

interface Slot<V> {
  value: V;
}

/** Plain string order, without the library's default comparator's checks for mixed types. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class KeyTree<V> {
  private readonly tree = new BTree<string, Slot<V>>(undefined, compareStrings);
  private readonly slots = new Map<string, Slot<V>>();

  get size(): number {
    return this.slots.size;
  }

  get(key: Uint8Array): V | undefined {
    return this.slots.get(keyName(key))?.value;
  }

  has(key: Uint8Array): boolean {
    return this.slots.has(keyName(key));
  }

  /** Returns true when the key was new. */
  set(key: Uint8Array, value: V): boolean {
    return this.setNamed(keyName(key), value);
  }

  /** set() for a key already named by keyName(). */
  setNamed(name: string, value: V): boolean {
    const slot = this.slots.get(name);
    if (slot !== undefined) {
      slot.value = value;
      return false;
    }
    const added = { value };
    this.slots.set(name, added);
    this.tree.set(name, added);
    return true;
  }

  delete(key: Uint8Array): boolean {
    return this.deleteNamed(keyName(key));
  }

  deleteNamed(name: string): boolean {
    if (!this.slots.delete(name)) return false;
    this.tree.delete(name);
    return true;
  }

  /** In key order, from `lowest` (included) when given. */
  *entries(lowest?: Uint8Array): IterableIterator<[Buffer, V]> {
    for (const [key, slot] of this.tree.entries(lowest === undefined ? undefined : keyName(lowest))) yield [keyBytes(key), slot.value];
  }

  /** In reverse key order, from `highest` (excluded) when given, else from the last key. */
  *entriesBelow(highest?: Uint8Array): IterableIterator<[Buffer, V]> {
    const pairs = highest === undefined ? this.tree.entriesReversed() : this.tree.entriesReversed(keyName(highest), undefined, true);
    for (const [key, slot] of pairs) yield [keyBytes(key), slot.value];
  }

  /** Deletes the keys in [low, high); returns their names (keyName) in key order. */
  deleteRange(low: Uint8Array, high: Uint8Array): string[] {
    const deleted: string[] = [];
    this.tree.editRange(keyName(low), keyName(high), false, (name) => {
      this.slots.delete(name);
      deleted.push(name);
      return { delete: true };
    });
    return deleted;
  }
}

/**
 * Buffer.compare's order (unsigned bytes, then length) in plain JavaScript,
 * for the few comparisons outside the trees (range bounds, snapshot order).
 */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const common = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < common; i++) {
    const difference = a[i]! - b[i]!;
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

/** A copy the store owns: decoded keys and values are views into a log entry or a request. */
export function ownedBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}

/** The key as the trees hold it: a latin1 string, one char per byte, ordered and prefixed as the bytes are. */
export function keyName(key: Uint8Array): string {
  return latin1(key);
}

export function keyBytes(key: string): Buffer {
  return Buffer.from(key, "latin1");
}

/**
 * A value as the store keeps it: its own copy (a value decoded from a log
 * entry or a request is a view into it), as a latin1 string. A string lives
 * in the engine's heap, which the collector compacts. A Buffer copy lands in
 * an 8 KiB pool shared with the next values, and one live value keeps its
 * whole pool: random overwrites then leave most of the pools' bytes dead but
 * held (npm run bench:kv-memory; the README gives the figures).
 */
export function storedValue(bytes: Uint8Array): string {
  return latin1(bytes);
}

/** A stored value as bytes, a copy for the caller. */
export function valueBytes(stored: string): Buffer {
  return Buffer.from(stored, "latin1");
}

function latin1(bytes: Uint8Array): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString("latin1");
}
