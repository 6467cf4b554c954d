/**
 * The bytes an operation adds to a frame or a log entry, estimated from its
 * keys and values (plus a fixed overhead per item), so the client can split
 * its frames and the leader its log entries before either grows past what the
 * transport carries.
 */
import type { KvCall, ReadOp, WriteOp } from "./commands.js";

/** Type tags, lengths, seq numbers and the like, generously. */
const OVERHEAD_BYTES = 64;
/** Per key or entry of a multi-key operation. */
const ITEM_OVERHEAD_BYTES = 16;

/**
 * The largest single call: a log entry holding it still fits an AppendEntries
 * frame (16 MiB by default) with room to spare; larger data must be split by
 * the caller into several operations.
 */
export const MAX_CALL_BYTES = 8 * 1024 * 1024;

export function callBytes(call: KvCall): number {
  switch (call.kind) {
    case "write":
      return OVERHEAD_BYTES + Buffer.byteLength(call.clientId) + writeOpBytes(call.op);
    case "read":
      return OVERHEAD_BYTES + readOpBytes(call.op);
    case "watch":
      return OVERHEAD_BYTES + call.watch.key.byteLength;
  }
}

export function writeOpBytes(op: WriteOp): number {
  switch (op.type) {
    case "put":
    case "getAndPut":
    case "putIfAbsent":
    case "merge":
      return op.key.byteLength + op.value.byteLength;
    case "putAll":
      return op.entries.reduce((sum, e) => sum + ITEM_OVERHEAD_BYTES + e.key.byteLength + e.value.byteLength, 0);
    case "compareAndPut":
      return op.key.byteLength + (op.expect?.byteLength ?? 0) + op.value.byteLength;
    case "compareAndPutAll":
      return op.entries.reduce((sum, e) => sum + ITEM_OVERHEAD_BYTES + e.key.byteLength + (e.expect?.byteLength ?? 0) + e.value.byteLength, 0);
    case "deleteAll":
      return op.keys.reduce((sum, key) => sum + ITEM_OVERHEAD_BYTES + key.byteLength, 0);
    case "deleteRange":
      return op.start.byteLength + op.end.byteLength;
    case "lockAcquire":
    case "lockRenew":
    case "lockRelease":
      return op.key.byteLength + Buffer.byteLength(op.owner);
    case "delete":
    case "getSequence":
    case "resetSequence":
      return op.key.byteLength;
  }
}

function readOpBytes(op: ReadOp): number {
  switch (op.type) {
    case "get":
    case "containsKey":
      return op.key.byteLength;
    case "multiGet":
      return op.keys.reduce((sum, key) => sum + ITEM_OVERHEAD_BYTES + key.byteLength, 0);
    case "scan":
      return op.start.byteLength + (op.end?.byteLength ?? 0);
  }
}
