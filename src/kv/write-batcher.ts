/**
 * Group commit on the leader: the write calls of every request that arrives
 * in one turn of the event loop go into one log entry (a WriteBatch stamped
 * with the leader's clock), so a thousand concurrent clients cost one
 * proposal, one append and one fsync rather than a thousand. The state
 * machine answers the entry with one result per call, in order.
 */
import type { RaftNode } from "../node/raft-node.js";
import { RaftError } from "../errors.js";
import type { WriteCall, WriteResult } from "./commands.js";
import { errorResultOf } from "./kv-errors.js";
import { errorResult } from "./kv-results.js";
import { ProposedWriteBatch, encodeWriteBatch } from "./kv-codec.js";
import { MAX_CALLS_PER_WRITE_BATCH } from "./kv-validation.js";
import { MAX_CALL_BYTES, callBytes } from "./op-size.js";
import { notLeaderResult } from "./not-leader.js";

/** A log entry of the batcher carries at most this much (one larger call goes alone). */
export const MAX_WRITE_BATCH_BYTES = MAX_CALL_BYTES;

interface QueuedWrite {
  readonly call: WriteCall;
  readonly bytes: number;
  readonly resolve: (result: WriteResult) => void;
}

export class WriteBatcher {
  private queued: QueuedWrite[] = [];
  /** Queued or proposed, not yet answered. */
  private pendingCount = 0;
  private flushScheduled = false;

  constructor(
    private readonly node: RaftNode,
    private readonly maxPendingWrites: number,
  ) {}

  get pending(): number {
    return this.pendingCount;
  }

  /** Resolves with the call's result; never rejects. */
  submit(call: WriteCall): Promise<WriteResult> {
    if (!this.node.isLeader()) return Promise.resolve(notLeaderResult(this.node));
    if (this.pendingCount >= this.maxPendingWrites) {
      return Promise.resolve(errorResult("EBUSY", `${this.pendingCount} writes wait to be committed on ${this.node.serverId} (the limit is ${this.maxPendingWrites}); slow down and retry`));
    }
    this.pendingCount++;
    return new Promise((resolve) => {
      this.queued.push({ call, bytes: callBytes(call), resolve });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const queued = this.queued;
    this.queued = [];
    let batch: QueuedWrite[] = [];
    let batchBytes = 0;
    for (const write of queued) {
      if (batch.length > 0 && (batch.length >= MAX_CALLS_PER_WRITE_BATCH || batchBytes + write.bytes > MAX_WRITE_BATCH_BYTES)) {
        this.propose(batch);
        batch = [];
        batchBytes = 0;
      }
      batch.push(write);
      batchBytes += write.bytes;
    }
    if (batch.length > 0) this.propose(batch);
  }

  private propose(batch: readonly QueuedWrite[]): void {
    const answer = (results: readonly WriteResult[]): void => {
      this.pendingCount -= batch.length;
      batch.forEach((write, i) => write.resolve(results[i]!));
    };
    const failAll = (error: unknown): void => answer(batch.map(() => errorResultOf(error)));
    if (!this.node.isLeader()) {
      answer(batch.map(() => notLeaderResult(this.node)));
      return;
    }
    const proposed = new ProposedWriteBatch({ timeMs: Date.now(), calls: batch.map((write) => write.call) });
    let data: Uint8Array;
    try {
      data = encodeWriteBatch(proposed.batch);
    } catch (error) {
      failAll(error);
      return;
    }
    this.node.apply({ data, context: proposed }).then((results) => {
      if (!Array.isArray(results) || results.length !== batch.length) {
        failAll(new RaftError("ESTATEMACHINE", `the state machine answered a batch of ${batch.length} writes with ${Array.isArray(results) ? results.length : typeof results} results`));
        return;
      }
      answer(results as WriteResult[]);
    }, failAll);
  }
}
