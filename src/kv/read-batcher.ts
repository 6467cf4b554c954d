/**
 * Linearizable reads on the leader (thesis §6.4): the reads of every request
 * that arrives in one turn of the event loop share one ReadIndex, a quorum
 * round ("safe") or, for lease reads, the leader's lease (§6.4.1), then each is
 * served from the local store, which has applied up to the read index by the
 * time readIndex() resolves.
 */
import type { ReadOnlyMode } from "../core/options.js";
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
  private readonly queued: Record<ReadOnlyMode, QueuedRead[]> = { safe: [], lease: [] };
  /** Queued or waiting for their read index. */
  private pendingCount = 0;
  private flushScheduled = false;

  constructor(
    private readonly node: RaftNode,
    private readonly readLocal: (op: ReadOp) => ReadResult,
    private readonly maxPendingReads: number,
  ) {}

  /** Resolves with the read's result; never rejects. */
  submit(op: ReadOp, mode: ReadOnlyMode): Promise<ReadResult> {
    if (!this.node.isLeader()) return Promise.resolve(notLeaderResult(this.node));
    if (this.pendingCount >= this.maxPendingReads) {
      return Promise.resolve(errorResult("EBUSY", `${this.pendingCount} reads wait for their read index on ${this.node.serverId} (the limit is ${this.maxPendingReads}); slow down and retry`));
    }
    this.pendingCount++;
    return new Promise((resolve) => {
      this.queued[mode].push({ op, resolve });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const mode of ["safe", "lease"] as const) {
      const batch = this.queued[mode];
      if (batch.length === 0) continue;
      this.queued[mode] = [];
      this.serve(batch, mode);
    }
  }

  private serve(batch: readonly QueuedRead[], mode: ReadOnlyMode): void {
    const answer = (result: (op: ReadOp) => ReadResult): void => {
      this.pendingCount -= batch.length;
      for (const read of batch) read.resolve(result(read.op));
    };
    if (!this.node.isLeader()) {
      answer(() => notLeaderResult(this.node));
      return;
    }
    this.node.readIndex(mode).then(
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
