/**
 * Linearizable reads on the leader (thesis §6.4): the reads of every request
 * that arrives in one turn of the event loop share one ReadIndex round, then
 * each is served from the local store, which has applied up to the read
 * index by the time readIndex() resolves.
 */
import type { RaftNode } from "../node/raft-node.js";
import type { ReadOp, ReadResult } from "./commands.js";
import { errorResultOf } from "./kv-errors.js";
import { errorResult } from "./kv-results.js";
import { notLeaderResult } from "./not-leader.js";

interface QueuedRead {
  readonly op: ReadOp;
  readonly resolve: (result: ReadResult) => void;
}

export class ReadBatcher {
  private queued: QueuedRead[] = [];
  /** Queued or waiting for their read index. */
  private pendingCount = 0;
  private flushScheduled = false;

  constructor(
    private readonly node: RaftNode,
    private readonly readLocal: (op: ReadOp) => ReadResult,
    private readonly maxPendingReads: number,
  ) {}

  /** Resolves with the read's result; never rejects. */
  submit(op: ReadOp): Promise<ReadResult> {
    if (!this.node.isLeader()) return Promise.resolve(notLeaderResult(this.node));
    if (this.pendingCount >= this.maxPendingReads) {
      return Promise.resolve(errorResult("EBUSY", `${this.pendingCount} reads wait for their read index on ${this.node.serverId} (the limit is ${this.maxPendingReads}); slow down and retry`));
    }
    this.pendingCount++;
    return new Promise((resolve) => {
      this.queued.push({ op, resolve });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queued;
    this.queued = [];
    const answer = (result: (op: ReadOp) => ReadResult): void => {
      this.pendingCount -= batch.length;
      for (const read of batch) read.resolve(result(read.op));
    };
    if (!this.node.isLeader()) {
      answer(() => notLeaderResult(this.node));
      return;
    }
    this.node.readIndex().then(
      () => answer((op) => serveRead(this.readLocal, op)),
      (error: unknown) => answer(() => errorResultOf(error)),
    );
  }
}

/** A read of the local store; a throw (a bug, or a bad operation) becomes that call's error. */
export function serveRead(readLocal: (op: ReadOp) => ReadResult, op: ReadOp): ReadResult {
  try {
    return readLocal(op);
  } catch (error) {
    return errorResultOf(error);
  }
}
