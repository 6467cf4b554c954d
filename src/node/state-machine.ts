/**
 * What users implement: the replicated state machine, in SOFAJraft's shape.
 * The node calls these one at a time, in log order, never concurrently.
 */
import type { RaftError } from "../errors.js";
import type { ConfState, NodeId } from "../core/types.js";
import type { SnapshotReader } from "../storage/snapshot-reader.js";
import type { SnapshotWriter } from "../storage/snapshot-writer.js";

/** The committed entries of one onApply call, in order. */
export interface ApplyIterator {
  /** True while there is a current entry; next() moves on. */
  hasNext(): boolean;
  next(): void;
  readonly data: Uint8Array;
  readonly index: number;
  readonly term: number;
  /**
   * On the leader that proposed the entry: the proposer's handle. Call it with
   * the result (any value) to resolve the proposer's apply() promise, or with a
   * RaftError to reject it. Null on followers and for entries proposed elsewhere.
   */
  readonly done: ((result?: unknown) => void) | null;
  /**
   * On the leader that proposed the entry: the task's `context` (ApplyTask),
   * else undefined. It lets the proposer's state machine skip decoding `data`,
   * so it must describe exactly what `data` holds: the other replicas decode
   * `data`, and a difference would make them diverge.
   */
  readonly context: unknown;
  /**
   * Stop applying: the entry at hand and the `rollback` entries before it that
   * this call has not yet finished are treated as not applied, and the node goes
   * to the ERROR state with `error` (it stops applying rather than diverge).
   */
  setErrorAndRollback(rollback: number, error: RaftError): void;
}

export interface LeaderStopStatus {
  readonly term: number;
  readonly reason: string;
}

export interface FollowingContext {
  readonly leaderId: NodeId;
  readonly term: number;
}

export interface StateMachine {
  /** Applies committed entries. A throw puts the node in the ERROR state (ESTATEMACHINE). */
  onApply(iterator: ApplyIterator): void | Promise<void>;
  /** Writes the state as of the last applied entry into the snapshot (files in writer.dir or writer.addFile). */
  onSnapshotSave(writer: SnapshotWriter): Promise<void>;
  /** Replaces the whole state by the snapshot's. Return false (or throw) when it cannot be loaded. */
  onSnapshotLoad(reader: SnapshotReader): Promise<boolean>;
  /**
   * This node became the leader of `term` (called in order with the applies). Its reads answer
   * EAGAIN until its first entry of the term commits, which follows within a round trip.
   */
  onLeaderStart?(term: number): void;
  onLeaderStop?(status: LeaderStopStatus): void;
  /** Called once when the node enters the ERROR state. */
  onError?(error: RaftError): void;
  /** A configuration entry was committed (joint or final). */
  onConfigurationCommitted?(conf: ConfState): void;
  onStartFollowing?(context: FollowingContext): void;
  onStopFollowing?(context: FollowingContext): void;
  onShutdown?(): void;
}
