/**
 * The KV store's operations and their results: the contract between the state
 * machine (kv-state-machine.ts), the codecs (kv-codec.ts), the server
 * (kv-server.ts) and the client (kv-client.ts). Keys and values are bytes; the
 * client also takes strings. Keys sort as unsigned bytes (Buffer.compare).
 *
 * Writes go through the Raft log, a batch of them per entry, each applied
 * exactly once per client session (clientId, seq). Reads are served from the
 * local store after a ReadIndex (linearizable), within the leader's lease
 * (lease), or as they are (stale, on any node). Locks and sequences live in
 * tables of their own, apart from the data keys.
 */
import type { RaftErrorCode } from "../errors.js";

export const MAX_KEY_BYTES = 16 * 1024;
export const MAX_VALUE_BYTES = 1024 * 1024;
/** Keys in one multi-key operation (putAll, multiGet, deleteAll, compareAndPutAll). */
export const MAX_KEYS_PER_OP = 10_000;
/** Calls in one request frame from a client. */
export const MAX_CALLS_PER_REQUEST = 4096;
export const MAX_SCAN_LIMIT = 100_000;
/** Owners of locks are names the client chooses (its process, its host). */
export const MAX_LOCK_OWNER_BYTES = 256;
export const MAX_LEASE_MS = 24 * 3600 * 1000;

export interface KvEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface CompareAndPutEntry {
  readonly key: Uint8Array;
  /** The value the key must hold, or null: the key must be absent. */
  readonly expect: Uint8Array | null;
  readonly value: Uint8Array;
}

export type WriteOp =
  | { readonly type: "put"; readonly key: Uint8Array; readonly value: Uint8Array }
  /** Atomic: all the entries in one step. */
  | { readonly type: "putAll"; readonly entries: readonly KvEntry[] }
  | { readonly type: "getAndPut"; readonly key: Uint8Array; readonly value: Uint8Array }
  | ({ readonly type: "compareAndPut" } & CompareAndPutEntry)
  /** Atomic over several keys: every expectation holds and all are written, or nothing is. */
  | { readonly type: "compareAndPutAll"; readonly entries: readonly CompareAndPutEntry[] }
  | { readonly type: "putIfAbsent"; readonly key: Uint8Array; readonly value: Uint8Array }
  /** Appends `value` to the key's value (creates it when absent). */
  | { readonly type: "merge"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: "delete"; readonly key: Uint8Array }
  | { readonly type: "deleteAll"; readonly keys: readonly Uint8Array[] }
  /** Deletes the keys in [start, end). */
  | { readonly type: "deleteRange"; readonly start: Uint8Array; readonly end: Uint8Array }
  /** Reserves [current, current + step) of the sequence; step 0 reads the current value. */
  | { readonly type: "getSequence"; readonly key: Uint8Array; readonly step: number }
  | { readonly type: "resetSequence"; readonly key: Uint8Array }
  /** Takes the lock if it is free or its lease expired; the holder taking it again extends its lease. */
  | { readonly type: "lockAcquire"; readonly key: Uint8Array; readonly owner: string; readonly leaseMs: number }
  | { readonly type: "lockRenew"; readonly key: Uint8Array; readonly owner: string; readonly token: number; readonly leaseMs: number }
  | { readonly type: "lockRelease"; readonly key: Uint8Array; readonly owner: string; readonly token: number };

export type WriteOpType = WriteOp["type"];

/** A lock as the store holds it after the operation. */
export interface LockState {
  /** Whether the caller holds the lock now. */
  readonly acquired: boolean;
  /** The holder's owner name ("" when nobody holds it). */
  readonly owner: string;
  /**
   * The fencing token of the holder's acquisition: it grows with every
   * acquisition of any lock, so a resource guarded by the lock refuses a
   * writer whose token is older than one it has seen.
   */
  readonly token: number;
  /** When the holder's lease ends, on the clock of the store (the leaders' wall clocks, never going back). */
  readonly expiresAtMs: number;
}

export type WriteResult =
  /** put, putAll, merge. */
  | { readonly type: "ok" }
  /** getAndPut, putIfAbsent: the value before (null: absent). */
  | { readonly type: "value"; readonly value: Uint8Array | null }
  /** compareAndPut, compareAndPutAll: written; delete: existed; lockRelease: released. */
  | { readonly type: "bool"; readonly value: boolean }
  /** deleteAll, deleteRange: keys deleted; resetSequence: the value before. */
  | { readonly type: "count"; readonly value: number }
  /** getSequence: the reserved values are [start, end). */
  | { readonly type: "sequence"; readonly start: number; readonly end: number }
  /** lockAcquire, lockRenew. */
  | ({ readonly type: "lock" } & LockState)
  | KvErrorResult;

export type ReadOp =
  | { readonly type: "get"; readonly key: Uint8Array }
  | { readonly type: "multiGet"; readonly keys: readonly Uint8Array[] }
  | { readonly type: "containsKey"; readonly key: Uint8Array }
  /**
   * The entries with start <= key < end (end null: to the last key), at most
   * `limit`, in key order or, `reverse`, from the last one down.
   */
  | {
      readonly type: "scan";
      readonly start: Uint8Array;
      readonly end: Uint8Array | null;
      readonly limit: number;
      readonly reverse: boolean;
      /** Values come back empty. */
      readonly keysOnly: boolean;
    };

export type ReadResult =
  | { readonly type: "value"; readonly value: Uint8Array | null }
  | { readonly type: "values"; readonly values: readonly (Uint8Array | null)[] }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "entries"; readonly entries: readonly KvEntry[] }
  | KvErrorResult;

export type Consistency = "linearizable" | "lease" | "stale";

export interface WatchRequest {
  /** A key, or with `prefix` every key that starts with it. */
  readonly key: Uint8Array;
  readonly prefix: boolean;
  /** The first log index of interest: resume with the previous answer's nextIndex. */
  readonly fromIndex: number;
  /** An answer ends after this many events, but never inside one log index's events. */
  readonly maxEvents: number;
  /** How long the server may hold the request waiting for an event (long poll). */
  readonly waitMs: number;
}

export interface WatchEvent {
  /** The log index of the write; several events may share one. */
  readonly index: number;
  readonly type: "put" | "delete";
  readonly key: Uint8Array;
  /** The new value of a put; null for a delete. */
  readonly value: Uint8Array | null;
}

export type WatchResult = { readonly type: "events"; readonly events: readonly WatchEvent[]; readonly nextIndex: number } | KvErrorResult;

export interface KvErrorResult {
  readonly type: "error";
  readonly code: RaftErrorCode;
  readonly message: string;
  /** With ENOTLEADER: the leader the server knows. */
  readonly leaderHint: string | null;
}

/**
 * A write of a client session. The state machine remembers the result of each
 * (clientId, seq) until the client says it has it (a later call's
 * `firstUnackedSeq` passes it), so a retry after a timeout or a leader change
 * gets the first result instead of applying twice.
 */
export interface WriteCall {
  readonly kind: "write";
  /** Chosen by the client once (random), up to 64 bytes. */
  readonly clientId: string;
  /** Per client, from 1, each write its own. */
  readonly seq: number;
  /** The client has the results of every seq below this. */
  readonly firstUnackedSeq: number;
  readonly op: WriteOp;
}

export interface ReadCall {
  readonly kind: "read";
  readonly consistency: Consistency;
  readonly op: ReadOp;
}

export interface WatchCall {
  readonly kind: "watch";
  readonly watch: WatchRequest;
}

export type KvCall = WriteCall | ReadCall | WatchCall;

/** One request frame from a client: calls batched by the client, answered in order. */
export interface KvRequest {
  readonly groupId: string;
  readonly calls: readonly KvCall[];
}

export type KvCallResult = WriteResult | ReadResult | WatchResult;

export interface KvResponse {
  readonly results: readonly KvCallResult[];
}

/**
 * The payload of one log entry: the writes the leader batched, stamped with
 * the leader's wall clock, which the state machine makes monotonic and uses
 * for lock leases and session expiry (every replica sees the same time).
 */
export interface WriteBatch {
  readonly timeMs: number;
  readonly calls: readonly WriteCall[];
}
