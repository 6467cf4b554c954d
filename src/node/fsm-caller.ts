/**
 * Calls the user's StateMachine, one call at a time in log order, off the
 * Ready loop: committed entries, snapshot loads and saves, and the role
 * notifications queue here, so a slow onApply or onSnapshotSave does not
 * hold back replication until the bounded backlog fills.
 */
import { decodeConfState } from "../core/configuration.js";
import { EntryType, entryBytes, type ConfState, type Entry, type SnapshotMeta } from "../core/types.js";
import { RaftError } from "../errors.js";
import { BatchIterator } from "./apply-iterator.js";
import type { TaskHandle } from "./pending-tasks.js";
import type { StateMachine } from "./state-machine.js";

/** Committed entries queued for the state machine before the Ready loop waits (back-pressure). */
export const MAX_APPLY_BACKLOG_ENTRIES = 65_536;
export const MAX_APPLY_BACKLOG_BYTES = 64 * 1024 * 1024;

export interface FsmHost {
  readonly stateMachine: StateMachine;
  readonly applyBatch: number;
  /** The entry at (index, term) is about to be applied: the proposer's handle, if this node holds it. */
  claimTask(index: number, term: number): TaskHandle | null;
  configApplied(index: number, conf: ConfState): void;
  /** Everything up to `index` is applied. */
  applied(index: number): void;
  /** The state from the snapshot at `meta` replaced the state machine's. */
  snapshotLoaded(meta: SnapshotMeta): void;
  loadSnapshot(meta: SnapshotMeta): Promise<boolean>;
  /** The state machine failed: the node must stop applying (ERROR). Called at most once. */
  failed(error: RaftError): void;
  warn(message: string): void;
}

type Job =
  | { readonly kind: "entries"; readonly entries: readonly Entry[]; readonly bytes: number }
  | { readonly kind: "load"; readonly meta: SnapshotMeta }
  | { readonly kind: "notify"; readonly call: () => void }
  | { readonly kind: "save"; readonly run: (appliedIndex: number, appliedTerm: number) => Promise<void>; readonly cancel: (error: RaftError) => void };

export class FsmCaller {
  appliedIndex: number;
  appliedTerm: number;
  private readonly jobs: Job[] = [];
  private backlogEntries = 0;
  private backlogBytes = 0;
  private running: Promise<void> | null = null;
  private roomWaiter: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly host: FsmHost,
    applied: { index: number; term: number },
  ) {
    this.appliedIndex = applied.index;
    this.appliedTerm = applied.term;
  }

  get pendingEntries(): number {
    return this.backlogEntries;
  }

  enqueueEntries(entries: readonly Entry[]): void {
    if (this.stopped || entries.length === 0) return;
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    this.backlogEntries += entries.length;
    this.backlogBytes += bytes;
    this.push({ kind: "entries", entries, bytes });
  }

  enqueueSnapshotLoad(meta: SnapshotMeta): void {
    this.push({ kind: "load", meta });
  }

  /** A notification (onLeaderStart, ...), in order with the applies around it. */
  enqueueNotify(call: () => void): void {
    this.push({ kind: "notify", call });
  }

  /**
   * Runs `run` between two applies, with the applied position it must capture
   * (a snapshot save). Its failure rejects the returned promise; the state machine goes on.
   */
  enqueueSave(run: (appliedIndex: number, appliedTerm: number) => Promise<void>): Promise<void> {
    if (this.stopped) return Promise.reject(new RaftError("EPERM", "the state machine is stopped; no snapshot can be saved"));
    return new Promise((resolve, reject) => {
      this.push({
        kind: "save",
        run: (index, term) => run(index, term).then(resolve, (error: unknown) => reject(error)),
        cancel: reject,
      });
    });
  }

  /** Resolves once the backlog is below its bounds (at once when it is). */
  whenRoom(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => {
      this.roomWaiter = resolve;
    });
  }

  /** No more calls into the state machine; a call in progress finishes, queued saves fail with `reason`. */
  stop(reason: RaftError): Promise<void> {
    this.stopped = true;
    for (const job of this.jobs.splice(0)) if (job.kind === "save") job.cancel(reason);
    this.backlogEntries = 0;
    this.backlogBytes = 0;
    this.releaseRoomWaiter();
    return this.running ?? Promise.resolve();
  }

  private push(job: Job): void {
    if (this.stopped) return;
    this.jobs.push(job);
    this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    for (let job = this.jobs.shift(); job !== undefined && !this.stopped; job = this.jobs.shift()) {
      try {
        await this.run(job);
      } catch (error) {
        this.fail(error instanceof RaftError ? error : new RaftError("ESTATEMACHINE", `the state machine failed: ${describeError(error)}`));
      }
      if (job.kind === "entries") {
        this.backlogEntries = Math.max(0, this.backlogEntries - job.entries.length);
        this.backlogBytes = Math.max(0, this.backlogBytes - job.bytes);
        if (this.hasRoom()) this.releaseRoomWaiter();
      }
    }
    this.running = null;
  }

  private async run(job: Job): Promise<void> {
    switch (job.kind) {
      case "entries":
        await this.applyEntries(job.entries);
        return;
      case "load":
        await this.load(job.meta);
        return;
      case "notify":
        try {
          job.call();
        } catch (error) {
          this.host.warn(`a state machine notification threw (ignored): ${describeError(error)}`);
        }
        return;
      case "save":
        await job.run(this.appliedIndex, this.appliedTerm);
        return;
    }
  }

  private async applyEntries(entries: readonly Entry[]): Promise<void> {
    let batch: Entry[] = [];
    for (const entry of entries) {
      if (entry.index <= this.appliedIndex) continue; // covered by a snapshot loaded meanwhile
      if (entry.type === EntryType.Normal) {
        batch.push(entry);
        if (batch.length >= this.host.applyBatch) {
          if (!(await this.applyBatch(batch))) return;
          batch = [];
        }
        continue;
      }
      if (batch.length > 0) {
        if (!(await this.applyBatch(batch))) return;
        batch = [];
      }
      this.host.claimTask(entry.index, entry.term); // a task waiting here lost its entry to this one
      if (entry.type === EntryType.Config) {
        const conf = decodeConfState(entry.data);
        try {
          this.host.stateMachine.onConfigurationCommitted?.(conf);
        } catch (error) {
          this.fail(new RaftError("ESTATEMACHINE", `onConfigurationCommitted threw at index ${entry.index}: ${describeError(error)}`));
          return;
        }
        this.markApplied(entry);
        this.host.configApplied(entry.index, conf);
      } else {
        this.markApplied(entry);
      }
    }
    if (batch.length > 0) await this.applyBatch(batch);
    this.host.applied(this.appliedIndex);
  }

  /** Returns false when the state machine failed (the node is now in ERROR). */
  private async applyBatch(batch: readonly Entry[]): Promise<boolean> {
    const handles = batch.map((entry) => this.host.claimTask(entry.index, entry.term));
    const iterator = new BatchIterator(batch, handles);
    let thrown: unknown = null;
    try {
      await this.host.stateMachine.onApply(iterator);
    } catch (error) {
      thrown = error;
    }
    let appliedCount: number;
    let error: RaftError | null;
    if (thrown !== null) {
      appliedCount = iterator.positionAtThrow();
      const at = batch[appliedCount]?.index ?? batch.at(-1)!.index;
      error = new RaftError("ESTATEMACHINE", `onApply threw at index ${at}: ${describeError(thrown)}`);
    } else {
      const outcome = iterator.outcome();
      appliedCount = outcome.appliedCount;
      error = outcome.error;
      if (outcome.unconsumed > 0) this.host.warn(`onApply returned with ${outcome.unconsumed} entries not visited; they count as applied`);
    }
    if (appliedCount > 0) this.markApplied(batch[appliedCount - 1]!);
    for (let i = 0; i < batch.length; i++) {
      const handle = handles[i];
      if (handle === null || handle === undefined) continue;
      handle.settle(i < appliedCount ? undefined : (error ?? new RaftError("ESTATEMACHINE", "not applied")));
      handle.release();
    }
    if (error !== null) {
      this.host.applied(this.appliedIndex);
      this.fail(error);
      return false;
    }
    return true;
  }

  private async load(meta: SnapshotMeta): Promise<void> {
    if (meta.index <= this.appliedIndex) return;
    let loaded: boolean;
    try {
      loaded = await this.host.loadSnapshot(meta);
    } catch (error) {
      throw new RaftError("ESTATEMACHINE", `onSnapshotLoad of the snapshot at index ${meta.index} threw: ${describeError(error)}`);
    }
    if (!loaded) throw new RaftError("ESTATEMACHINE", `onSnapshotLoad refused the snapshot at index ${meta.index}`);
    this.appliedIndex = meta.index;
    this.appliedTerm = meta.term;
    this.host.snapshotLoaded(meta);
    this.host.applied(this.appliedIndex);
  }

  private markApplied(entry: Entry): void {
    this.appliedIndex = entry.index;
    this.appliedTerm = entry.term;
  }

  private fail(error: RaftError): void {
    if (this.stopped) return;
    void this.stop(error);
    this.host.failed(error);
  }

  private hasRoom(): boolean {
    return this.backlogEntries < MAX_APPLY_BACKLOG_ENTRIES && this.backlogBytes < MAX_APPLY_BACKLOG_BYTES;
  }

  private releaseRoomWaiter(): void {
    const waiter = this.roomWaiter;
    this.roomWaiter = null;
    waiter?.();
  }
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
