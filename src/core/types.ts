/** Basic Raft data: ids, entries, hard state, snapshot metadata. */

/** A peer's id. The core treats it as opaque; upper layers use `ip:port[:idx[:priority]]`. */
export type NodeId = string;

export const EntryType = {
  /** A user command, handed to the state machine. */
  Normal: 0,
  /** A configuration: the full membership after the change (takes effect when appended). */
  Config: 1,
  /** The empty entry a new leader appends to commit its term (§5.4.2). */
  Noop: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be durable before a vote or an acknowledgement leaves the node (§5.1, Figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/** Membership. `outgoing` is non-empty only in a joint configuration (§6, thesis §4.3). */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly outgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** "A snapshot exists at index i": the last entry it covers and the membership at that point. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

/** Bytes an entry counts for in flow-control limits (payload plus a fixed header allowance). */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}
export const ENTRY_OVERHEAD_BYTES = 24;

export function hardStateEquals(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
