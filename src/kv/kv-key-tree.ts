/** The ordered maps of the store (sorted-btree's B+ tree); data keys are bytes, sorted as unsigned bytes. */
import sortedBtree from "sorted-btree";

// sorted-btree is CommonJS: the class is its default export's `default`.
export const BTree = sortedBtree.default;
export type KeyTree<V> = InstanceType<typeof BTree<Uint8Array, V>>;

export function newKeyTree<V>(): KeyTree<V> {
  return new BTree<Uint8Array, V>(undefined, compareKeys);
}

/**
 * Buffer.compare's order (unsigned bytes, then length) in plain JavaScript:
 * for short keys the JIT-compiled loop beats the native call, and the tree
 * compares about twenty times per insert (1.4x faster sets at 100k keys).
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
