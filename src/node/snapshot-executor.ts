/**
 * Local snapshots: saved on demand, by time and by log growth; loaded at
 * start and after an install from the leader. The state machine writes its
 * files between two applies (it must capture exactly the applied state);
 * checksumming, fsync and publishing happen beside the applies, and the log
 * is compacted once the snapshot is durable.
 */
import type { ConfState, SnapshotMeta } from "../core/types.js";
import { RaftError } from "../errors.js";
import type { SnapshotRef, SnapshotStore } from "../storage/snapshot-store.js";
import type { SnapshotWriter } from "../storage/snapshot-writer.js";
import type { Logger } from "./boot.js";
import type { DurableLog } from "./durable-log.js";
import { describeError, type FsmCaller } from "./fsm-caller.js";
import type { StateMachine } from "./state-machine.js";

export interface SnapshotHost {
  readonly snapshots: SnapshotStore;
  readonly durableLog: DurableLog;
  readonly fsm: FsmCaller;
  readonly stateMachine: StateMachine;
  /** The membership in force at `index`, for the snapshot's metadata. */
  confAt(index: number): ConfState;
  readonly logger: Logger;
}

export interface SnapshotStatus {
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly saving: boolean;
  readonly savedCount: number;
  readonly lastSavedAtMs: number | null;
  readonly lastError: string | null;
}

export class SnapshotExecutor {
  private saving: Promise<SnapshotMeta | null> | null = null;
  private savedCount = 0;
  private lastSavedAtMs: number | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly host: SnapshotHost,
    /** Save when at least this many entries were applied since the last snapshot (0: never by count). */
    private readonly logIndexMargin: number,
  ) {}

  /** Saves a snapshot of the applied state; null when nothing was applied since the last one. EBUSY while one is saved. */
  snapshot(): Promise<SnapshotMeta | null> {
    if (this.saving !== null) return Promise.reject(new RaftError("EBUSY", "a snapshot is already being saved; retry once it completes"));
    const saving = this.save().then(
      (meta) => {
        this.saving = null;
        // Entries applied during the save triggered nothing (one save at a time): check the margin again.
        this.maybeSaveByMargin(this.host.fsm.appliedIndex);
        return meta;
      },
      (error: unknown) => {
        this.saving = null;
        this.lastError = describeError(error);
        this.host.logger.warn(`saving a snapshot failed: ${this.lastError}`);
        throw error;
      },
    );
    this.saving = saving;
    return saving;
  }

  /** After applies: saves when the log grew past the margin since the last snapshot. */
  maybeSaveByMargin(appliedIndex: number): void {
    if (this.logIndexMargin <= 0 || this.saving !== null) return;
    if (appliedIndex - this.host.durableLog.snapshotMeta().index >= this.logIndexMargin) this.saveInBackground();
  }

  /** The interval timer: saves when anything (at least the margin) was applied since the last snapshot. */
  onInterval(appliedIndex: number): void {
    if (this.saving !== null) return;
    const since = appliedIndex - this.host.durableLog.snapshotMeta().index;
    if (since > 0 && since >= this.logIndexMargin) this.saveInBackground();
  }

  /** Hands the snapshot at `meta` to the state machine. */
  async load(meta: SnapshotMeta): Promise<boolean> {
    const reader = await this.host.snapshots.openReader(meta.index);
    try {
      return await this.host.stateMachine.onSnapshotLoad(reader);
    } finally {
      await reader.close();
    }
  }

  /** At start: the node starts only once the state machine took the latest snapshot. */
  async loadAtStart(latest: SnapshotRef): Promise<void> {
    let loaded: boolean;
    try {
      loaded = await this.load(latest.meta);
    } catch (error) {
      throw new RaftError("ESTATEMACHINE", `onSnapshotLoad of the snapshot at index ${latest.meta.index} threw: ${describeError(error)}`);
    }
    if (!loaded) throw new RaftError("ESTATEMACHINE", `onSnapshotLoad refused the snapshot at index ${latest.meta.index} in ${latest.dir}`);
  }

  /** Waits for a save in progress (at shutdown). */
  async settled(): Promise<void> {
    await this.saving?.catch(() => undefined);
  }

  status(): SnapshotStatus {
    const meta = this.host.durableLog.snapshotMeta();
    return {
      lastIndex: meta.index,
      lastTerm: meta.term,
      saving: this.saving !== null,
      savedCount: this.savedCount,
      lastSavedAtMs: this.lastSavedAtMs,
      lastError: this.lastError,
    };
  }

  private saveInBackground(): void {
    this.snapshot().catch(() => undefined); // logged and kept in status()
  }

  private async save(): Promise<SnapshotMeta | null> {
    const { fsm, snapshots, durableLog, stateMachine } = this.host;
    let written: SnapshotWriter | null = null;
    await fsm.enqueueSave(async (appliedIndex, appliedTerm) => {
      if (appliedIndex <= durableLog.snapshotMeta().index) return;
      const meta: SnapshotMeta = { index: appliedIndex, term: appliedTerm, conf: this.host.confAt(appliedIndex) };
      const writer = await snapshots.beginSnapshot(meta);
      try {
        await stateMachine.onSnapshotSave(writer);
      } catch (error) {
        await writer.abort();
        throw new RaftError("ESTATEMACHINE", `onSnapshotSave at index ${appliedIndex} failed: ${describeError(error)}`);
      }
      written = writer;
    });
    const writer = written as SnapshotWriter | null;
    if (writer === null) return null;
    try {
      await writer.publish();
    } catch (error) {
      await writer.abort().catch(() => undefined);
      throw error;
    }
    durableLog.setSnapshot(writer.meta);
    this.savedCount++;
    this.lastSavedAtMs = Date.now();
    this.lastError = null;
    await this.compactLog(writer.meta.index);
    return writer.meta;
  }

  /** Drops the entries the snapshot covers. The core reads from the snapshot on (DurableLog), so keeping older ones would not help a lagging follower. */
  private async compactLog(snapshotIndex: number): Promise<void> {
    const log = this.host.durableLog.log;
    const firstKept = Math.min(snapshotIndex + 1, log.lastIndex() + 1);
    if (firstKept <= log.firstIndex()) return; // a snapshot from the leader reset the log meanwhile
    try {
      await log.truncatePrefix(firstKept);
    } catch (error) {
      this.host.logger.warn(`compacting the log up to index ${firstKept} failed (retried after the next snapshot): ${describeError(error)}`);
    }
  }
}
