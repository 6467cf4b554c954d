/**
 * One simulated server: a RaftCore, its durable state (MemoryLog, HardState,
 * the state machine state of its latest snapshot) and its volatile state
 * (the core itself, the state machine, the Ready being written). Ready
 * handling follows the contract in core/ready.ts, with a random disk delay
 * between "send messages" and "persisted": a crash in that window loses the Ready.
 */
import type { Message } from "../core/messages.js";
import type { CoreOptions } from "../core/options.js";
import type { SeededRandom } from "../core/random.js";
import { RaftCore } from "../core/raft.js";
import type { ConfChangeResult, Ready, Role } from "../core/ready.js";
import { EMPTY_HARD_STATE, EntryType, type ConfState, type Entry, type HardState, type NodeId, type SnapshotMeta } from "../core/types.js";
import { RaftError } from "../errors.js";
import { MemoryLog } from "../storage/memory-log.js";
import type { ReadChecker } from "./checkers/reads.js";
import type { SafetyChecker } from "./checkers/safety.js";
import { Violation } from "./checkers/violation.js";
import { digestEntry } from "./digest.js";
import type { EventQueue } from "./event-queue.js";
import { NodeReads } from "./node-reads.js";
import { EMPTY_STATE, HashStateMachine, type StateSnapshot } from "./state-machine.js";
import type { Trace } from "./trace.js";

/** What travels with a message: a snapshot's data, and who sent it (to report the snapshot's fate). */
export interface Carried {
  readonly snapshot: StateSnapshot | null;
  readonly senderIncarnation: number;
}

/** The cluster around a node. */
export interface NodeEnv {
  readonly queue: EventQueue;
  readonly trace: Trace;
  readonly safety: SafetyChecker;
  readonly reads: ReadChecker;
  readonly tickMs: number;
  readonly tickJitterMs: number;
  readonly coreOptions: Partial<CoreOptions>;
  /** Compact the log once this many entries are applied past the last snapshot. */
  readonly snapshotEveryEntries: number;
  /** Send messages that need nothing durable while a Ready is still being written (core.takeMessages). */
  readonly pipelineSends: boolean;
  diskDelayMs(random: SeededRandom): number;
  send(message: Message, carried: Carried): void;
  configApplied(node: SimNode, index: number): void;
  writeAcknowledged(node: SimNode, label: string, index: number): void;
  /** A read started with readIndex() was served, or failed (a read lost in a crash reports nothing). */
  readFinished(node: SimNode, context: string, served: boolean): void;
  /** A node started or stopped: the runtime's view of which peer processes are alive may change. */
  topologyChanged(): void;
}

export type Lifecycle = "new" | "up" | "down" | "removed";

const OLD_SNAPSHOTS_KEPT = 3;
const LEADER_ONLY: ReadonlySet<Message["type"]> = new Set(["append", "heartbeat", "snapshot", "timeoutNow"]);

export class SimNode {
  // Durable: survives crashes.
  readonly log: MemoryLog;
  private hardState: HardState = EMPTY_HARD_STATE;
  private snapshotState: StateSnapshot = EMPTY_STATE;
  /** A few superseded snapshots, kept like snapshot files a node deletes lazily. */
  private readonly olderSnapshots = new Map<number, StateSnapshot>();
  // Volatile: rebuilt at each start.
  core: RaftCore | null = null;
  readonly stateMachine = new HashStateMachine();
  lifecycle: Lifecycle = "new";
  role: Role = "follower";
  /** Changes at every start and stop, so timers and feedback of an earlier life are ignored. */
  incarnation = 0;
  /** Starts so far (for the trace). */
  boots = 0;
  private inflight: Ready | null = null;
  /** Set by the nemesis: crash at the next disk write, leaving it torn. */
  crashDuringNextWrite: (() => void) | null = null;
  /** Armed by the nemesis: crash right after this node, as leader, hands out newly committed entries. */
  crashAfterLeaderCommit: (() => void) | null = null;
  /** Armed by the nemesis: called once this node has become leader and sent its first messages. */
  onLeadership: (() => void) | null = null;
  private commitIndex = 0;
  private readonly receivedSnapshots = new Map<number, StateSnapshot>();
  private readonly proposals = new Map<number, { term: number; label: string }>();
  private readonly reads: NodeReads;

  constructor(
    readonly id: NodeId,
    bootstrap: ConfState,
    private readonly random: SeededRandom,
    private readonly env: NodeEnv,
  ) {
    this.log = new MemoryLog(bootstrap);
    this.reads = new NodeReads(id, env.reads, {
      note: (text) => this.note(text),
      finished: (context, served) => env.readFinished(this, context, served),
    });
  }

  get isUp(): boolean {
    return this.core !== null;
  }

  get persistedHardState(): HardState {
    return this.hardState;
  }

  /** Boots (or reboots) from durable state only. */
  start(): void {
    if (this.core) return;
    const meta = this.log.snapshotMeta();
    if (this.snapshotState.index !== meta.index) {
      throw new Violation("sim-error", `${this.id}: snapshot data at ${this.snapshotState.index} but log snapshot at ${meta.index}`);
    }
    this.incarnation++;
    this.boots++;
    this.stateMachine.restore(this.snapshotState);
    this.commitIndex = this.hardState.commit;
    this.role = "follower";
    this.lifecycle = "up";
    this.core = new RaftCore({
      id: this.id,
      log: this.log,
      hardState: this.hardState,
      applied: meta.index,
      random: this.random.fork(),
      options: this.env.coreOptions,
    });
    this.note(`start #${this.boots}: term ${this.hardState.term}, commit ${this.hardState.commit}, log (${meta.index}, ${this.log.lastIndex()}]`);
    const incarnation = this.incarnation;
    this.env.queue.after(this.random.nextInt(this.env.tickMs) + 1, () => this.tickLoop(incarnation));
    this.pump();
    this.env.topologyChanged();
  }

  /** Crash (or decommission): everything volatile is gone, including a Ready not yet persisted. */
  stop(lifecycle: "down" | "removed"): void {
    const wasUp = this.core !== null;
    this.core = null;
    this.inflight = null;
    this.incarnation++;
    this.lifecycle = lifecycle;
    this.role = "follower";
    this.receivedSnapshots.clear();
    this.proposals.clear();
    this.reads.clear();
    this.crashDuringNextWrite = null;
    this.crashAfterLeaderCommit = null;
    this.onLeadership = null;
    if (wasUp) this.note(lifecycle === "down" ? "crash" : "stopped (removed from the cluster)");
    this.env.topologyChanged();
  }

  /** The runtime's liveness watch saw `peer`'s process go (or come back): the core hears of it, quiesced or not. */
  peerLivenessChanged(peer: NodeId, reachable: boolean): void {
    const core = this.core;
    if (!core) return;
    const leaderSuspected = !reachable && core.status().leaderId === peer;
    if (core.quiesced) this.note(`wakes: ${peer} ${reachable ? "is reachable again" : "is unreachable"}${leaderSuspected ? " (the leader)" : ""}`);
    core.wake(leaderSuspected);
    this.pump();
  }

  receive(message: Message, carried: Carried): void {
    const core = this.core;
    if (!core) return;
    if (message.type === "snapshot" && carried.snapshot) this.receivedSnapshots.set(carried.snapshot.index, carried.snapshot);
    core.step(message);
    this.pump();
  }

  /** A client command; returns where it landed, or the error (ENOTLEADER with a hint, EBUSY). */
  propose(data: Uint8Array, label: string): { index: number; term: number } | RaftError {
    const core = this.core;
    if (!core) return new RaftError("ESHUTDOWN", `${this.id} is down`);
    try {
      const at = core.propose(data);
      this.proposals.set(at.index, { term: at.term, label });
      this.note(`propose ${label} at (${at.index}, t${at.term})`);
      this.pump();
      return at;
    } catch (error) {
      if (error instanceof RaftError) return error;
      throw error;
    }
  }

  /** Starts a linearizable read; the answer comes back in a Ready's readStates. */
  readIndex(context: string): RaftError | null {
    const core = this.core;
    if (!core) return new RaftError("ESHUTDOWN", `${this.id} is down`);
    try {
      core.readIndex(context);
    } catch (error) {
      if (error instanceof RaftError) return error;
      throw error;
    }
    this.reads.started(context);
    this.pump();
    return null;
  }

  /** True once the read got its read index and only waits for the state machine to reach it. */
  readAnswered(context: string): boolean {
    return this.reads.isAnswered(context);
  }

  /** Runs a core operation that may throw RaftError (conf change, transfer), then handles its Ready. */
  act(what: string, operation: (core: RaftCore) => void): RaftError | null {
    const core = this.core;
    if (!core) return new RaftError("ESHUTDOWN", `${this.id} is down`);
    try {
      operation(core);
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
      this.note(`${what} refused: ${error.message}`);
      return error;
    }
    this.note(what);
    this.pump();
    return null;
  }

  /** Takes the next Ready when the previous one is done. */
  pump(): void {
    if (this.core && this.inflight !== null && this.env.pipelineSends) {
      // While a Ready is being written, messages that need nothing durable may leave at once.
      for (const message of this.core.takeMessages()) this.send(message);
      return;
    }
    while (this.core && this.inflight === null && this.core.hasReady()) {
      const ready = this.core.ready();
      this.inflight = ready;
      this.readyTaken(ready);
      if (!this.core) return; // crashed on the spot
      if (ready.entries.length > 0 || ready.hardState !== null || ready.snapshot !== null) {
        const incarnation = this.incarnation;
        this.env.queue.after(this.env.diskDelayMs(this.random), () => {
          if (incarnation !== this.incarnation || this.inflight !== ready) return;
          const crash = this.crashDuringNextWrite;
          if (crash) {
            this.crashDuringNextWrite = null;
            this.tornWrite(ready);
            crash();
            return;
          }
          this.completeReady(ready);
          this.pump();
        });
        return;
      }
      this.completeReady(ready);
    }
  }

  private tickLoop(incarnation: number): void {
    if (incarnation !== this.incarnation || !this.core) return;
    this.core.tick();
    this.pump();
    const jitterMs = this.env.tickJitterMs > 0 ? this.random.nextInt(2 * this.env.tickJitterMs + 1) - this.env.tickJitterMs : 0;
    this.env.queue.after(this.env.tickMs + jitterMs, () => this.tickLoop(incarnation));
  }

  /** Steps 1 and 4 of the contract: what leaves, and what applies, before the disk write. */
  private readyTaken(ready: Ready): void {
    const core = this.core!;
    if (ready.softState && ready.softState.role !== this.role) {
      this.role = ready.softState.role;
      const status = core.status();
      this.note(`becomes ${this.role} in term ${status.term}${ready.softState.leaderId ? ` (leader ${ready.softState.leaderId})` : ""}`);
      if (status.role === "leader") this.leaderDetected(status.term);
    }
    if (ready.committedEntries.length > 0) this.env.safety.committed(ready.committedEntries, core.status().term);
    const crash = this.crashAfterLeaderCommit;
    if (crash && this.role === "leader" && ready.committedEntries.length > 0) {
      // The leader decided a commit and dies before telling anyone: the moment the
      // commit rule (§5.4.2, Figure 8) must already be safe at.
      this.crashAfterLeaderCommit = null;
      crash();
      if (!this.core) return; // the fault may decline (too many members down already): then all goes on
    }
    for (const message of ready.messages) this.send(message);
    // Committed entries are on this node's disk already: they apply while the write goes on.
    this.applyEntries(ready.committedEntries);
    const leadership = this.onLeadership;
    if (leadership && this.role === "leader") {
      this.onLeadership = null;
      leadership();
    }
  }

  private send(message: Message): void {
    if (LEADER_ONLY.has(message.type) && this.env.safety.leaderSeen(message.from, message.term)) {
      const status = this.core!.status();
      if (status.role === "leader" && status.term === message.term) this.checkCompleteness(message.term);
    }
    if (message.type === "voteResp" && !message.reject) this.env.safety.voteGranted(message.from, message.term, message.to);
    let snapshot: StateSnapshot | null = null;
    if (message.type === "snapshot") {
      // The message may have been built before a newer local snapshot; older ones stay on disk for a while.
      snapshot = this.snapshotState.index === message.snapshot.index ? this.snapshotState : (this.olderSnapshots.get(message.snapshot.index) ?? null);
    }
    this.env.send(message, { snapshot, senderIncarnation: this.incarnation });
  }

  private leaderDetected(term: number): void {
    if (this.env.safety.leaderSeen(this.id, term)) this.checkCompleteness(term);
  }

  private checkCompleteness(term: number): void {
    const core = this.core!;
    this.env.safety.checkLeaderCompleteness(this.id, term, {
      term: (index) => core.term(index),
      snapshotIndex: this.log.snapshotMeta().index,
    });
  }

  /**
   * A crash in the middle of the disk write: a prefix of the contract's
   * order (snapshot, then entries, then hard state) made it to disk.
   */
  private tornWrite(ready: Ready): void {
    const steps = this.random.nextInt(3);
    this.note(`crash during the disk write: ${["nothing", "only the snapshot", "snapshot and entries but not the hard state"][steps]} persisted`);
    if (steps >= 1 && ready.snapshot) this.installSnapshot(ready.snapshot);
    if (steps >= 2) this.appendEntries(ready.entries);
  }

  private appendEntries(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.log.append(entries);
    const termBefore = this.log.term(entries[0]!.index - 1)!;
    this.env.safety.persisted(this.id, termBefore, entries, digestEntry);
  }

  /** Steps 2, 3 and 5 of the contract, and the rest of 4, once the disk write is done. */
  private completeReady(ready: Ready): void {
    const core = this.core!;
    if (ready.snapshot) this.installSnapshot(ready.snapshot);
    this.appendEntries(ready.entries);
    if (ready.hardState) {
      this.env.safety.hardStatePersisted(this.id, this.hardState, ready.hardState);
      this.env.safety.commitAdvanced(this.id, this.commitIndex, ready.hardState.commit);
      this.hardState = ready.hardState;
      this.commitIndex = ready.hardState.commit;
    }
    for (const message of ready.messagesAfterPersist) this.send(message);
    for (const r of ready.readStates) this.reads.answered(r.context, r.index, r.error, this.stateMachine.applied);
    for (const result of ready.confChangeResults) this.confChangeResult(result);
    this.inflight = null;
    core.advance(ready);
    this.maybeCompact(core);
  }

  private installSnapshot(meta: SnapshotMeta): void {
    const state = this.receivedSnapshots.get(meta.index);
    if (!state) throw new Violation("sim-error", `${this.id} must install snapshot ${meta.index} but never received its data`);
    this.log.installSnapshot(meta);
    this.replaceSnapshot(state);
    this.stateMachine.restore(state);
    this.env.safety.snapshotInstalled(this.id, state);
    for (const index of [...this.proposals.keys()]) if (index <= state.index) this.proposals.delete(index);
    this.note(`install snapshot at ${state.index} (${state.commandCount} commands)`);
    this.reads.serve(this.stateMachine.applied);
  }

  private applyEntries(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    let configIndex = 0;
    for (const entry of entries) {
      const digest = digestEntry(entry);
      const before = this.stateMachine.applied;
      this.stateMachine.apply(entry, digest);
      this.env.safety.applied(this.id, before, entry, digest, this.stateMachine.stateHash);
      if (entry.type === EntryType.Config) configIndex = entry.index;
      const proposal = this.proposals.get(entry.index);
      if (proposal) {
        this.proposals.delete(entry.index);
        if (proposal.term === entry.term) this.env.writeAcknowledged(this, proposal.label, entry.index);
      }
    }
    const first = entries[0]!.index;
    const last = entries[entries.length - 1]!.index;
    this.note(`apply ${first === last ? first : `${first}..${last}`} (state ${this.stateMachine.stateHash % 100000})`);
    if (configIndex > 0) this.env.configApplied(this, configIndex);
    this.reads.serve(this.stateMachine.applied);
  }

  private replaceSnapshot(state: StateSnapshot): void {
    this.olderSnapshots.set(this.snapshotState.index, this.snapshotState);
    for (const index of this.olderSnapshots.keys()) {
      if (this.olderSnapshots.size <= OLD_SNAPSHOTS_KEPT) break;
      this.olderSnapshots.delete(index);
    }
    this.snapshotState = state;
  }

  private confChangeResult(result: ConfChangeResult): void {
    this.note(
      result.error
        ? `conf change ${result.requestId} failed: ${result.error} ${result.message ?? ""}`
        : `conf change ${result.requestId} appended at ${result.index}`,
    );
  }

  /** Snapshots at the applied index, as a node does to bound its log. */
  private maybeCompact(core: RaftCore): void {
    const applied = this.stateMachine.applied;
    const meta = this.log.snapshotMeta();
    if (applied - meta.index < this.env.snapshotEveryEntries || applied > this.log.lastIndex()) return;
    const term = core.term(applied);
    if (term === undefined || term !== this.log.term(applied)) return;
    this.log.compact({ index: applied, term, conf: core.confAt(applied) });
    this.replaceSnapshot(this.stateMachine.snapshot());
    this.note(`snapshot at ${applied}, log now (${applied}, ${this.log.lastIndex()}]`);
  }

  private note(text: string): void {
    this.env.trace.note(this.env.queue.nowMs, this.id, text);
  }
}
