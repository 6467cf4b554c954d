/** The ordered maps of the store (sorted-btree's B+ tree); data keys are bytes, sorted as unsigned bytes. */
import sortedBtree from "sorted-btree";

// sorted-btree is CommonJS: the class is its default export's `default`.
export const BTree = sortedBtree.default;
export type KeyTree<V> = InstanceType<typeof BTree<Uint8Array, V>>;

export function newKeyTree<V>(): KeyTree<V> {
  return new BTree<Uint8Array, V>(undefined, Buffer.compare);
}

/** A copy the store owns: decoded keys and values are views into a log entry or a request. */
export function ownedBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}
