/** The ApplyIterator handed to StateMachine.onApply: one batch of Normal entries, in log order. */
import type { Entry } from "../core/types.js";
import { RaftError } from "../errors.js";
import type { TaskHandle } from "./pending-tasks.js";
import type { ApplyIterator } from "./state-machine.js";

export class BatchIterator implements ApplyIterator {
  private position = 0;
  /** Set by setErrorAndRollback: entries from here on are not applied. */
  private stopAt: number | null = null;
  private stopError: RaftError | null = null;

  constructor(
    private readonly entries: readonly Entry[],
    /** The proposer's handle per entry (null where this node did not propose it). */
    private readonly handles: readonly (TaskHandle | null)[],
  ) {}

  hasNext(): boolean {
    return this.stopAt === null && this.position < this.entries.length;
  }

  next(): void {
    if (this.hasNext()) this.position++;
  }

  get data(): Uint8Array {
    return this.current().data;
  }

  get index(): number {
    return this.current().index;
  }

  get term(): number {
    return this.current().term;
  }

  get context(): unknown {
    return this.handles[this.position]?.context;
  }

  get done(): ((result?: unknown) => void) | null {
    const handle = this.handles[this.position] ?? null;
    if (handle === null) return null;
    return (result?: unknown) => handle.settle(result);
  }

  setErrorAndRollback(rollback: number, error: RaftError): void {
    if (this.stopAt !== null) return;
    const back = Number.isSafeInteger(rollback) && rollback > 0 ? rollback : 0;
    this.stopAt = Math.max(0, this.position - back);
    this.stopError = error instanceof RaftError ? error : new RaftError("ESTATEMACHINE", String(error));
  }

  /** After onApply returned: how many entries count as applied, and the error that stopped it, if any. */
  outcome(): { appliedCount: number; error: RaftError | null; unconsumed: number } {
    if (this.stopAt !== null) return { appliedCount: this.stopAt, error: this.stopError, unconsumed: 0 };
    // Like SOFAJraft, entries the state machine returned without visiting still count as applied (it was told them all).
    return { appliedCount: this.entries.length, error: null, unconsumed: this.entries.length - this.position };
  }

  /** Where a throw interrupted onApply: the entries before the current one were applied. */
  positionAtThrow(): number {
    return this.stopAt ?? this.position;
  }

  private current(): Entry {
    const entry = this.entries[this.position];
    if (entry === undefined || this.stopAt !== null) throw new RaftError("EPERM", "the apply iterator has no current entry (hasNext() is false)");
    return entry;
  }
}
