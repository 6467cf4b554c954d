/**
 * A node's client reads in progress. A read starts with readIndex(); the core
 * answers with a read index (or an error); the read is served once the state
 * machine has applied up to that index. The read checker sees each step.
 */
import type { NodeId } from "../core/types.js";
import type { ReadChecker } from "./checkers/reads.js";

interface PendingRead {
  /** The highest write acknowledged when the read began: the read must see it. */
  readonly mustReach: number;
  /** -1 until the core answers. */
  readIndex: number;
}

export interface ReadEvents {
  note(text: string): void;
  finished(context: string, served: boolean): void;
}

export class NodeReads {
  private readonly pending = new Map<string, PendingRead>();
  /** Answered reads waiting for the state machine, in answer order. */
  private waiting: { context: string; read: PendingRead }[] = [];

  constructor(
    private readonly nodeId: NodeId,
    private readonly checker: ReadChecker,
    private readonly events: ReadEvents,
  ) {}

  started(context: string): void {
    this.pending.set(context, { mustReach: this.checker.readRequested(), readIndex: -1 });
  }

  /** True once the read got its read index and only waits for the state machine. */
  isAnswered(context: string): boolean {
    const read = this.pending.get(context);
    return read !== undefined && read.readIndex >= 0;
  }

  answered(context: string, index: number, error: string | null, appliedIndex: number): void {
    const read = this.pending.get(context);
    if (!read) return;
    if (error !== null || index < 0) {
      this.pending.delete(context);
      this.events.note(`read ${context} failed: ${error ?? "no index"}`);
      this.events.finished(context, false);
      return;
    }
    this.checker.readIndexAnswered(this.nodeId, context, index, read.mustReach);
    read.readIndex = index;
    this.waiting.push({ context, read });
    this.serve(appliedIndex);
  }

  /** Serves every answered read whose index the state machine has reached. */
  serve(appliedIndex: number): void {
    if (this.waiting.length === 0) return;
    const still: typeof this.waiting = [];
    for (const waiting of this.waiting) {
      if (waiting.read.readIndex > appliedIndex) {
        still.push(waiting);
        continue;
      }
      this.pending.delete(waiting.context);
      this.checker.readServed(this.nodeId, waiting.context, appliedIndex, waiting.read.readIndex);
      this.events.note(`read ${waiting.context} served at ${appliedIndex} (read index ${waiting.read.readIndex}, must reach ${waiting.read.mustReach})`);
      this.events.finished(waiting.context, true);
    }
    this.waiting = still;
  }

  /** A crash forgets every read in progress (its client would time out). */
  clear(): void {
    this.pending.clear();
    this.waiting = [];
  }
}
