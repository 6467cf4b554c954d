/**
 * The replicated KV store as a StateMachine: each log entry is a WriteBatch;
 * each call goes through the client sessions (exactly once) to the store, and
 * the changes go to the watch history at the entry's index. On the leader the
 * proposer gets the results, in call order, through the entry's done().
 *
 * Time: a batch carries its leader's wall clock; the store time is the
 * largest seen so far, so leases and session expiry never go back in time and
 * every replica sees the same time at the same entry.
 */
import { RaftError } from "../errors.js";
import type { ApplyIterator, StateMachine } from "../node/state-machine.js";
import type { SnapshotReader } from "../storage/snapshot-reader.js";
import type { SnapshotWriter } from "../storage/snapshot-writer.js";
import { plainMessage } from "../transport/protocol.js";
import type { ReadOp, ReadResult, WatchRequest, WatchResult, WriteBatch, WriteResult } from "./commands.js";
import { ProposedWriteBatch, WRITE_BATCH_FORMAT_VERSION, decodeWriteBatch } from "./kv-codec.js";
import { errorResult } from "./kv-results.js";
import { readKvSnapshot, writeKvSnapshot } from "./kv-snapshot.js";
import { KvStore, type KvChangeEvent } from "./kv-store.js";
import { ClientSessions, type SessionOptions, type SessionSnapshot } from "./sessions.js";
import { WatchHistory, type WatchHistoryOptions } from "./watch-history.js";

export interface KvStateMachineOptions {
  /**
   * Bounds of the exactly-once sessions. They decide results (a forgotten
   * session applies a retried write again), so every replica of a group
   * must use the same ones.
   */
  readonly sessions?: SessionOptions;
  /** Bounds of the recent changes kept for watchers; local to each replica. */
  readonly watchHistory?: WatchHistoryOptions;
}

export interface KvStateMachineStats {
  readonly appliedIndex: number;
  readonly storeTimeMs: number;
  readonly keys: number;
  readonly sequences: number;
  readonly locks: number;
  readonly lastFencingToken: number;
  readonly sessions: number;
  readonly watchEvents: number;
  readonly watchOldestIndex: number;
  readonly watchWaiters: number;
}

export class KvStateMachine implements StateMachine {
  private store = new KvStore();
  private sessions: ClientSessions;
  private readonly history: WatchHistory;
  private timeMs = 0;
  private lastIndex = 0;

  constructor(private readonly options: KvStateMachineOptions = {}) {
    this.sessions = new ClientSessions(options.sessions);
    this.history = new WatchHistory(0, options.watchHistory);
  }

  /** The index of the last entry applied (or of the snapshot loaded). */
  get appliedIndex(): number {
    return this.lastIndex;
  }

  /** Reads the local state as of appliedIndex; the server makes it linearizable (ReadIndex) or not. */
  read(op: ReadOp): ReadResult {
    return this.store.read(op);
  }

  /** The changes at request.fromIndex and after, at once (an empty answer when there are none yet). */
  watch(request: WatchRequest): WatchResult {
    return this.history.eventsSince(request.fromIndex, request.key, request.prefix, request.maxEvents);
  }

  /**
   * Like watch(), but an empty answer waits for new entries until one brings
   * an event or `signal` aborts (the server's waitMs); an EBUSY error result
   * when too many watchers wait.
   */
  async watchLongPoll(request: WatchRequest, signal: AbortSignal): Promise<WatchResult> {
    let answer = this.watch(request);
    while (answer.type === "events" && answer.events.length === 0 && !signal.aborted) {
      let reached: boolean;
      try {
        reached = await this.history.waitForIndex(answer.nextIndex, signal);
      } catch (error) {
        if (error instanceof RaftError) return errorResult(error.code, plainMessage(error));
        throw error;
      }
      if (!reached) break;
      answer = this.watch({ ...request, fromIndex: answer.nextIndex });
    }
    return answer;
  }

  /**
   * Resolves true once `index` is applied here; false when `signal` aborts or
   * the machine shuts down; EBUSY when too many wait. Only KV entries pass
   * through the state machine (configuration and no-op entries do not), so to
   * wait for a ReadIndex use the node's applied index, not this.
   */
  waitForIndex(index: number, signal?: AbortSignal): Promise<boolean> {
    return this.history.waitForIndex(index, signal);
  }

  /** A client's session (for describing and tests). */
  session(clientId: string): SessionSnapshot | undefined {
    return this.sessions.describe(clientId);
  }

  stats(): KvStateMachineStats {
    return {
      appliedIndex: this.lastIndex,
      storeTimeMs: this.timeMs,
      keys: this.store.keyCount,
      sequences: this.store.sequenceCount,
      locks: this.store.lockCount,
      lastFencingToken: this.store.lastFencingToken,
      sessions: this.sessions.size,
      watchEvents: this.history.eventCount,
      watchOldestIndex: this.history.oldestIndex,
      watchWaiters: this.history.waiting,
    };
  }

  onApply(iterator: ApplyIterator): void {
    for (; iterator.hasNext(); iterator.next()) {
      const outcome = this.applyEntry(iterator.data, iterator.index, iterator.context);
      iterator.done?.(outcome);
    }
  }

  async onSnapshotSave(writer: SnapshotWriter): Promise<void> {
    // The node applies nothing while this runs (state-machine.ts), so the tables hold still.
    await writeKvSnapshot(writer.dir, { timeMs: this.timeMs, store: this.store, sessions: this.sessions });
  }

  async onSnapshotLoad(reader: SnapshotReader): Promise<boolean> {
    const loaded = await readKvSnapshot(reader, this.options.sessions ?? {});
    this.store = loaded.store;
    this.sessions = loaded.sessions;
    this.timeMs = loaded.timeMs;
    this.lastIndex = reader.manifest.meta.index;
    this.history.reset(this.lastIndex);
    return true;
  }

  onShutdown(): void {
    this.history.cancelWaiters();
  }

  /**
   * The results of the entry's calls, or the RaftError that refuses a
   * malformed entry. A malformed entry changes nothing and fails its proposer:
   * decoding is a pure function of the bytes, identical on every replica (log
   * matching), so every replica skips it alike and none diverges, while one
   * bad entry does not stop the whole group. An entry in a newer format is
   * different: this replica cannot tell what the others do with it, so it
   * throws, and the node stops in the ERROR state rather than diverge.
   */
  private applyEntry(data: Uint8Array, index: number, context: unknown): WriteResult[] | RaftError {
    const version = data[0];
    if (version !== undefined && version > WRITE_BATCH_FORMAT_VERSION) {
      throw new RaftError(
        "ESTATEMACHINE",
        `the log entry at index ${index} is a KV write batch in format version ${version}, newer than this replica reads (${WRITE_BATCH_FORMAT_VERSION}); upgrade it`,
      );
    }
    let batch: WriteBatch;
    try {
      batch = context instanceof ProposedWriteBatch ? context.batch : decodeWriteBatch(data);
    } catch (error) {
      this.advance(index, []);
      return error instanceof RaftError ? error : new RaftError("ECORRUPT", String(error));
    }
    this.timeMs = Math.max(this.timeMs, batch.timeMs);
    const timeMs = this.timeMs;
    const events: KvChangeEvent[] = [];
    const results = batch.calls.map((call) =>
      this.sessions.apply(call, timeMs, (op) => {
        const outcome = this.store.applyWrite(op, timeMs);
        for (const event of outcome.events) events.push(event);
        return outcome.result;
      }),
    );
    this.advance(index, events);
    return results;
  }

  private advance(index: number, events: readonly KvChangeEvent[]): void {
    this.lastIndex = index;
    this.history.append(index, events);
  }
}
