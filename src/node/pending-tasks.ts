/**
 * Proposals this node made and whose outcome the proposer still waits for,
 * by log index. Bounded: past `limit` apply() answers EBUSY at once. Entries
 * are matched by (index, term) when applied, so a proposal whose entry was
 * replaced by another leader's learns it (ESTEPPEDDOWN) instead of resolving.
 */
import { RaftError } from "../errors.js";

/**
 * The proposer's side of one applied entry: settled once, by the state
 * machine or the node. While its entry is being applied the outcome is held
 * back until the batch counts as applied, so a resolved apply() always finds
 * appliedIndex at or past its entry.
 */
export class TaskHandle {
  private outcome: { value: unknown } | null = null;
  private holding = false;
  private delivered = false;

  constructor(
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: unknown) => void,
    /** The task's context (ApplyTask.context). */
    readonly context: unknown,
  ) {}

  /** A RaftError rejects the proposer's promise; any other value resolves it. The first call wins. */
  settle(result: unknown): void {
    if (this.outcome !== null) return;
    this.outcome = { value: result };
    if (!this.holding) this.deliver();
  }

  /** Holds the outcome back until release(). */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    if (this.outcome !== null) this.deliver();
  }

  private deliver(): void {
    if (this.delivered) return;
    this.delivered = true;
    const value = this.outcome!.value;
    if (value instanceof RaftError) this.reject(value);
    else this.resolve(value);
  }
}

interface Task {
  readonly term: number;
  readonly deadlineMs: number;
  readonly handle: TaskHandle;
}

export class PendingTasks {
  /** In insertion order, which is deadline order (every task waits the same time). */
  private readonly byIndex = new Map<number, Task>();

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.byIndex.size;
  }

  isFull(): boolean {
    return this.byIndex.size >= this.limit;
  }

  /** Waits for the entry proposed at (index, term). */
  add(index: number, term: number, deadlineMs: number, context?: unknown): Promise<unknown> {
    // Our earlier entry at this index was overwritten by another leader's, or we could not propose here again.
    this.byIndex.get(index)?.handle.settle(stepped(index));
    this.byIndex.delete(index);
    return new Promise((resolve, reject) => {
      this.byIndex.set(index, { term, deadlineMs, handle: new TaskHandle(resolve, reject, context) });
    });
  }

  /** The entry at `index` with `term` is being applied: the proposer's handle, if this node proposed it. */
  claim(index: number, term: number): TaskHandle | null {
    const task = this.byIndex.get(index);
    if (task === undefined) return null;
    this.byIndex.delete(index);
    if (task.term === term) {
      task.handle.hold();
      return task.handle;
    }
    task.handle.settle(stepped(index));
    return null;
  }

  /** Everything up to `index` is applied without passing through claim (a snapshot was loaded): those outcomes are unknown. */
  failThrough(index: number): void {
    for (const [taskIndex, task] of this.byIndex) {
      if (taskIndex > index) continue;
      this.byIndex.delete(taskIndex);
      task.handle.settle(new RaftError("ESTEPPEDDOWN", `a snapshot from the leader replaced the log at index ${taskIndex}; the task may or may not have been applied`));
    }
  }

  /** Fails the tasks past `index` with `error` (their fate is unknown here); those at or below it are applied as usual. */
  failAfter(index: number, error: RaftError): void {
    for (const [taskIndex, task] of this.byIndex) {
      if (taskIndex <= index) continue;
      this.byIndex.delete(taskIndex);
      task.handle.settle(error);
    }
  }

  expire(nowMs: number): void {
    for (const [index, task] of this.byIndex) {
      if (task.deadlineMs > nowMs) return;
      this.byIndex.delete(index);
      task.handle.settle(new RaftError("ETIMEDOUT", `the entry at index ${index} was not applied in time; it may still be applied later`));
    }
  }

  failAll(error: RaftError): void {
    const tasks = [...this.byIndex.values()];
    this.byIndex.clear();
    for (const task of tasks) task.handle.settle(error);
  }
}

function stepped(index: number): RaftError {
  return new RaftError("ESTEPPEDDOWN", `leadership changed and the entry at index ${index} was replaced by another leader's; the task was not applied`);
}
