/**
 * The ordered maps of the store: byte keys sorted as unsigned bytes, on
 * sorted-btree's B+ tree. Inside, a key is held as a latin1 string (one char
 * per byte): JavaScript orders such strings exactly as the bytes, the engine
 * compares them natively, and a string is owned by the tree without a copy of
 * the caller's buffer. With a byte comparator instead, the tree's sets were
 * the largest share of applying a put in the servers' CPU profiles.
 */
import sortedBtree from "sorted-btree";

// sorted-btree is CommonJS: the class is its default export's `default` (sessions and the watch history use it too).
export const BTree = sortedBtree.default;
type StringTree<V> = InstanceType<typeof BTree<string, V>>;

export class KeyTree<V> {
  private readonly tree: StringTree<V> = new BTree<string, V>();

  get size(): number {
    return this.tree.size;
  }

  get(key: Uint8Array): V | undefined {
    return this.tree.get(keyString(key));
  }

  has(key: Uint8Array): boolean {
    return this.tree.has(keyString(key));
  }

  /** Returns true when the key was new. */
  set(key: Uint8Array, value: V): boolean {
    return this.tree.set(keyString(key), value);
  }

  delete(key: Uint8Array): boolean {
    return this.tree.delete(keyString(key));
  }

  /** In key order, from `lowest` (included) when given. */
  *entries(lowest?: Uint8Array): IterableIterator<[Buffer, V]> {
    for (const [key, value] of this.tree.entries(lowest === undefined ? undefined : keyString(lowest))) yield [keyBytes(key), value];
  }

  /** In reverse key order, from `highest` (excluded) when given, else from the last key. */
  *entriesBelow(highest?: Uint8Array): IterableIterator<[Buffer, V]> {
    const pairs = highest === undefined ? this.tree.entriesReversed() : this.tree.entriesReversed(keyString(highest), undefined, true);
    for (const [key, value] of pairs) yield [keyBytes(key), value];
  }

  /** Deletes the keys in [low, high); returns them in key order. */
  deleteRange(low: Uint8Array, high: Uint8Array): Buffer[] {
    const deleted: Buffer[] = [];
    this.tree.editRange(keyString(low), keyString(high), false, (key) => {
      deleted.push(keyBytes(key));
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

function keyString(key: Uint8Array): string {
  return (Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength)).toString("latin1");
}

function keyBytes(key: string): Buffer {
  return Buffer.from(key, "latin1");
}
