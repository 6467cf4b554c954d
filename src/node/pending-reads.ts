/**
 * Linearizable reads in progress (thesis §6.4): first waiting for the core's
 * read index (a ReadState under the read's context), then for the state
 * machine to apply up to it. Bounded: past `limit` readIndex() answers EBUSY.
 */
import type { ReadState } from "../core/ready.js";
import { RaftError } from "../errors.js";

interface Read {
  readonly context: string;
  readonly deadlineMs: number;
  /** -1 until the core answers. */
  index: number;
  done: boolean;
  readonly resolve: (index: number) => void;
  readonly reject: (error: unknown) => void;
}

export class PendingReads {
  /** Every read in progress, in insertion order, which is deadline order. */
  private readonly byContext = new Map<string, Read>();
  /** Reads with an index, waiting for the apply; sorted by index. */
  private waitingApply: Read[] = [];
  private sequence = 0;

  constructor(
    private readonly limit: number,
    /** Makes contexts unique across restarts, so a late answer to an earlier life's read matches nothing. */
    private readonly contextPrefix: string,
  ) {}

  get size(): number {
    return this.byContext.size;
  }

  isFull(): boolean {
    return this.byContext.size >= this.limit;
  }

  add(deadlineMs: number): { context: string; promise: Promise<number> } {
    const context = `${this.contextPrefix}:${this.sequence++}`;
    const promise = new Promise<number>((resolve, reject) => {
      this.byContext.set(context, { context, deadlineMs, index: -1, done: false, resolve, reject });
    });
    return { context, promise };
  }

  /** The core refused the read at once. */
  fail(context: string, error: unknown): void {
    const read = this.byContext.get(context);
    if (read !== undefined) this.finish(read, error);
  }

  onReadState(state: ReadState, appliedIndex: number): void {
    const read = this.byContext.get(state.context);
    if (read === undefined) return; // timed out meanwhile
    if (state.error !== null) {
      this.finish(read, new RaftError(state.error, readErrorMessage(state.error)));
      return;
    }
    read.index = state.index;
    if (state.index <= appliedIndex) {
      this.finish(read, null);
      return;
    }
    let at = this.waitingApply.length;
    while (at > 0 && this.waitingApply[at - 1]!.index > read.index) at--;
    this.waitingApply.splice(at, 0, read);
  }

  onApplied(appliedIndex: number): void {
    let ready = 0;
    while (ready < this.waitingApply.length && this.waitingApply[ready]!.index <= appliedIndex) ready++;
    if (ready === 0) return;
    const done = this.waitingApply.slice(0, ready);
    this.waitingApply = this.waitingApply.slice(ready);
    for (const read of done) this.finish(read, null);
  }

  expire(nowMs: number): void {
    let expired = false;
    for (const read of this.byContext.values()) {
      if (read.deadlineMs > nowMs) break;
      expired = true;
      const phase = read.index < 0 ? "the leader did not confirm a read index" : `the state machine did not apply up to index ${read.index}`;
      this.finish(read, new RaftError("ETIMEDOUT", `${phase} in time; retry`));
    }
    if (expired) this.waitingApply = this.waitingApply.filter((read) => !read.done);
  }

  failAll(error: RaftError): void {
    const reads = [...this.byContext.values()];
    this.waitingApply = [];
    for (const read of reads) this.finish(read, error);
  }

  private finish(read: Read, error: unknown): void {
    if (read.done) return;
    read.done = true;
    this.byContext.delete(read.context);
    if (error === null) read.resolve(read.index);
    else read.reject(error);
  }
}

function readErrorMessage(code: string): string {
  switch (code) {
    case "ENOTLEADER":
      return "the node the read was forwarded to is not the leader; retry after the election settles";
    case "EAGAIN":
      return "the new leader has not yet committed an entry of its term; retry shortly";
    case "ESTEPPEDDOWN":
      return "leadership changed before the read was confirmed; retry";
    case "ETIMEDOUT":
      return "the leader did not answer the read in time; retry";
    case "EBUSY":
      return "the leader has too many reads waiting; retry later";
    default:
      return "the read index request failed";
  }
}
