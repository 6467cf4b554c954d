/**
 * RaftNode: what users embed. It drives the pure core with real time (ticks),
 * the transport (messages in and out), durable storage (the Ready contract in
 * core/ready.ts) and the user's StateMachine (through the FsmCaller), and
 * offers SOFAJraft's Node API: apply, readIndex, membership, leadership
 * transfer, snapshots, status.
 */
import { randomBytes, randomInt } from "node:crypto";
import type { Message, SnapshotRequest } from "../core/messages.js";
import { RaftCore } from "../core/raft.js";
import { SeededRandom } from "../core/random.js";
import type { ConfState, NodeId, SnapshotMeta } from "../core/types.js";
import { RaftError } from "../errors.js";
import { parsePeerId } from "../transport/peer-address.js";
import { openNodeStorage, type NodeStorage } from "./boot.js";
import { FsmCaller, describeError } from "./fsm-caller.js";
import { PendingConfChanges, membershipTarget, type MembershipChange } from "./membership.js";
import { nodeManager } from "./node-manager.js";
import type { NodeDescription } from "./node-description.js";
import { nodeState, type Lifecycle, type NodeState } from "./node-state.js";
import { resolveNodeOptions, type NodeLogger, type NodeOptions, type ResolvedNodeOptions } from "./options.js";
import { PendingReads } from "./pending-reads.js";
import { PendingTasks } from "./pending-tasks.js";
import { ReadyLoop } from "./ready-loop.js";
import { RoleNotifier } from "./role-notifier.js";
import { joinTicker } from "./shared-ticker.js";
import { livenessOf } from "./peer-liveness.js";
import { QuiescenceWatch } from "./quiescence-watch.js";
import { SnapshotExecutor } from "./snapshot-executor.js";
import { SnapshotInstaller, sharedThrottle } from "./snapshot-installer.js";
import { serveNodeSnapshots } from "./snapshot-serving.js";
import { SnapshotStallWatch } from "./snapshot-stall-watch.js";
import type { StateMachine } from "./state-machine.js";

export interface ApplyTask {
  readonly data: Uint8Array;
  /** Refuse (EPERM) unless this node leads in exactly this term. */
  readonly expectedTerm?: number;
}

/** Membership requests in flight at once; the core runs one change at a time anyway. */
const MAX_PENDING_CONF_CHANGES = 16;
/** Senders remembered for listAlivePeers; a bound against ids made up by a bad peer. */
const MAX_TRACKED_PEERS = 1024;

/**
 * Pass as the transport's `onUnreachable` option: tells the local nodes of the
 * group that a peer could not be reached, so their leaders stop streaming to it.
 */
export function routeUnreachable(peerId: NodeId, groupId: string): void {
  for (const node of nodeManager.nodesOf(groupId)) node.reportUnreachable(peerId);
}

export class RaftNode {
  /** Opens the storage, loads the latest snapshot into the state machine and joins the group. */
  static async start(options: NodeOptions): Promise<RaftNode> {
    const resolved = resolveNodeOptions(options);
    const logger = prefixedLogger(resolved.logger, `[tsraft ${resolved.groupId}/${resolved.serverId}]`);
    const storage = await openNodeStorage(resolved.dataDir, resolved.initialServerList, resolved.sync, logger);
    const node = new RaftNode(resolved, storage, logger);
    try {
      await node.boot();
    } catch (error) {
      await storage.durableLog.log.close();
      throw error;
    }
    return node;
  }

  private readonly core: RaftCore;
  private readonly fsm: FsmCaller;
  private readonly snapshots: SnapshotExecutor;
  private readonly installer: SnapshotInstaller;
  private readonly stallWatch: SnapshotStallWatch;
  /** Stops serving this node's snapshots to followers; set while joined. */
  private stopServingSnapshots: (() => void) | null = null;
  private readonly tasks: PendingTasks;
  private readonly reads: PendingReads;
  private readonly confChanges: PendingConfChanges;
  private readonly stateMachine: StateMachine;
  private lifecycle: Lifecycle = "uninitialized";
  private lastError: RaftError | null = null;
  private readonly lastHeardMs = new Map<NodeId, number>();
  private readonly readyLoop: ReadyLoop;
  private readonly roles: RoleNotifier;
  /** Wakes the core when a member's process goes or comes back; null when quiescing is off. */
  private readonly quiescence: QuiescenceWatch | null;
  /** Registered with the transport and ticking. */
  private joined = false;
  /** Stops this node's ticks; set while joined. */
  private leaveTicker: (() => void) | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private shutdownDone: Promise<void> | null = null;
  /** A warning that would repeat every tick is given once. */
  private warnedTransfer = false;

  private constructor(
    private readonly options: ResolvedNodeOptions,
    private readonly storage: NodeStorage,
    private readonly logger: NodeLogger,
  ) {
    this.stateMachine = options.stateMachine;
    const snapshot = storage.durableLog.snapshotMeta();
    this.core = new RaftCore({
      id: options.serverId,
      log: storage.durableLog,
      hardState: storage.hardState,
      applied: snapshot.index, // the state machine starts from the snapshot and replays the log
      random: new SeededRandom(randomInt(2 ** 32)),
      options: options.core,
    });
    const idPrefix = `${options.serverId}/${randomBytes(6).toString("hex")}`;
    this.tasks = new PendingTasks(options.maxPendingTasks);
    this.reads = new PendingReads(options.maxPendingReads, idPrefix);
    this.confChanges = new PendingConfChanges(MAX_PENDING_CONF_CHANGES, idPrefix);
    this.fsm = new FsmCaller(
      {
        stateMachine: this.stateMachine,
        applyBatch: options.applyBatch,
        claimTask: (index, term) => {
          this.confChanges.entryApplied(index, term);
          return this.tasks.claim(index, term);
        },
        configApplied: (index, conf) => this.confChanges.configApplied(index, conf),
        applied: (index) => {
          this.reads.onApplied(index);
          this.snapshots.maybeSaveByMargin(index);
        },
        snapshotLoaded: (meta) => {
          this.tasks.failThrough(meta.index);
          this.confChanges.failThrough(meta.index);
        },
        loadSnapshot: (meta) => this.snapshots.load(meta),
        failed: (error) => this.enterError(error),
        warn: (message) => this.logger.warn(message),
      },
      { index: snapshot.index, term: snapshot.term },
    );
    this.snapshots = new SnapshotExecutor(
      {
        snapshots: storage.snapshots,
        durableLog: storage.durableLog,
        fsm: this.fsm,
        stateMachine: this.stateMachine,
        confAt: (index) => this.core.confAt(index),
        logger: this.logger,
      },
      options.snapshotLogIndexMargin,
    );
    this.installer = new SnapshotInstaller({
      transport: options.transport,
      groupId: options.groupId,
      store: storage.snapshots,
      throttle: sharedThrottle(options.snapshotThrottleBytesPerSec),
      logger: this.logger,
      coveredIndex: () => Math.max(this.core.committed, storage.durableLog.snapshotMeta().index),
      step: (message) => this.step(message),
      send: (message) => this.sendAll([message]),
    });
    this.stallWatch = new SnapshotStallWatch(options.installSnapshotStallMs);
    this.quiescence = options.quiesce
      ? new QuiescenceWatch(this.core, livenessOf(options.transport, options.electionTimeoutMs, options.tickMs), options.serverId, () => this.readyLoop.kick())
      : null;
    this.roles = new RoleNotifier(options.serverId, this.stateMachine, this.fsm, storage.hardState.term);
    this.readyLoop = new ReadyLoop({
      core: this.core,
      storage,
      fsm: this.fsm,
      reads: this.reads,
      confChanges: this.confChanges,
      active: () => this.active(),
      send: (messages) => this.sendAll(messages),
      onSoftState: (softState) => this.roles.onSoftState(softState, this.core.currentTerm),
      halt: (error) => this.halt(error),
    });
  }

  private async boot(): Promise<void> {
    const latest = this.storage.latestSnapshot;
    if (latest !== null) {
      let loaded: boolean;
      try {
        loaded = await this.snapshots.load(latest.meta);
      } catch (error) {
        throw new RaftError("ESTATEMACHINE", `onSnapshotLoad of the snapshot at index ${latest.meta.index} threw: ${describeError(error)}`);
      }
      if (!loaded) throw new RaftError("ESTATEMACHINE", `onSnapshotLoad refused the snapshot at index ${latest.meta.index} in ${latest.dir}`);
    }
    this.warnIfInitialServersDisagree();
    if (!this.options.sync) this.logger.warn("sync: false: log writes are not flushed to disk; a crash may lose acknowledged writes (tests and benchmarks only)");
    this.lifecycle = "running";
    const { transport, groupId, serverId, tickMs, snapshotIntervalSecs } = this.options;
    const stopServing = serveNodeSnapshots(transport, {
      groupId,
      store: this.storage.snapshots,
      isLeader: () => this.isLeader(),
      snapshotServed: (requesterAddress) => this.stallWatch.served(requesterAddress, Date.now()),
    });
    try {
      transport.registerGroup(groupId, serverId, (message) => this.receive(message));
    } catch (error) {
      stopServing();
      throw error;
    }
    this.stopServingSnapshots = stopServing;
    this.joined = true;
    nodeManager.add(this, transport);
    this.leaveTicker = joinTicker(tickMs, () => this.onTick());
    this.quiescence?.start();
    if (snapshotIntervalSecs > 0) {
      const onInterval = (): void => {
        if (this.lifecycle === "running") this.snapshots.onInterval(this.fsm.appliedIndex);
      };
      this.snapshotTimer = setInterval(onInterval, snapshotIntervalSecs * 1000);
      this.snapshotTimer.unref();
    }
    this.readyLoop.kick();
  }

  private warnIfInitialServersDisagree(): void {
    const initial = [...new Set(this.options.initialServerList)].sort();
    if (this.storage.bootstrapped || initial.length === 0) return;
    const conf = this.core.status().conf;
    const voters = [...new Set([...conf.voters, ...conf.outgoing])].sort();
    if (initial.join(",") !== voters.join(",")) {
      this.logger.warn(`initialServerList (${initial.join(", ")}) is ignored: the data folder already holds the membership (${voters.join(", ") || "none yet"})`);
    }
  }

  // ---------------------------------------------------------------- the public API

  get groupId(): string {
    return this.options.groupId;
  }

  get serverId(): NodeId {
    return this.options.serverId;
  }

  get leaderId(): NodeId | null {
    return this.core.leaderId;
  }

  get state(): NodeState {
    const status = this.core.status();
    return nodeState(this.lifecycle, status.role, status.leadTransferee !== null);
  }

  isLeader(): boolean {
    return this.lifecycle === "running" && this.core.role === "leader";
  }

  get term(): number {
    return this.core.currentTerm;
  }

  get lastLogIndex(): number {
    return this.core.lastIndex();
  }

  get committedIndex(): number {
    return this.core.committed;
  }

  get appliedIndex(): number {
    return this.fsm.appliedIndex;
  }

  /** Proposes `task.data`; resolves with what the state machine passes to done() once applied here (on the leader). */
  apply(task: ApplyTask): Promise<unknown> {
    try {
      this.requireRunning();
      if (task === null || typeof task !== "object" || !(task.data instanceof Uint8Array)) throw new RaftError("EINVAL", "apply needs a task { data: Uint8Array, expectedTerm?: number }");
      const expectedTerm = task.expectedTerm;
      if (expectedTerm !== undefined && (!Number.isSafeInteger(expectedTerm) || expectedTerm < 0)) {
        throw new RaftError("EINVAL", `expectedTerm must be a non-negative integer, got ${String(expectedTerm)}`);
      }
      if (expectedTerm !== undefined || this.tasks.isFull()) {
        const status = this.core.status();
        if (status.role !== "leader") throw notLeader(status.leaderId);
        if (expectedTerm !== undefined && expectedTerm !== status.term) throw new RaftError("EPERM", `expectedTerm ${expectedTerm} differs from the current term ${status.term}; the leader changed since`);
        if (this.tasks.isFull()) throw new RaftError("EBUSY", `${this.tasks.size} tasks wait to be applied (maxPendingTasks ${this.options.maxPendingTasks}); slow down and retry`);
      }
      const { index, term } = this.core.propose(task.data);
      const promise = this.tasks.add(index, term, Date.now() + this.options.requestTimeoutMs);
      this.readyLoop.kick();
      return promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A linearizable read point: resolves with an index once this node has applied up to it (thesis §6.4). */
  readIndex(): Promise<number> {
    try {
      this.requireRunning();
      if (this.reads.isFull()) throw new RaftError("EBUSY", `${this.reads.size} reads are in progress (maxPendingReads ${this.options.maxPendingReads}); retry later`);
    } catch (error) {
      return Promise.reject(error);
    }
    const { context, promise } = this.reads.add(Date.now() + this.options.requestTimeoutMs);
    try {
      this.core.readIndex(context);
    } catch (error) {
      this.reads.fail(context, error);
    }
    this.readyLoop.kick();
    return promise;
  }

  addPeer(peer: NodeId): Promise<ConfState> {
    return this.changeMembership({ kind: "addPeer", peer });
  }

  removePeer(peer: NodeId): Promise<ConfState> {
    return this.changeMembership({ kind: "removePeer", peer });
  }

  /** Replaces the voters (a learner named here is promoted); more than one voter changed goes through a joint configuration. */
  changePeers(voters: readonly NodeId[]): Promise<ConfState> {
    return this.changeMembership({ kind: "changePeers", voters });
  }

  addLearners(learners: readonly NodeId[]): Promise<ConfState> {
    return this.changeMembership({ kind: "addLearners", learners });
  }

  removeLearners(learners: readonly NodeId[]): Promise<ConfState> {
    return this.changeMembership({ kind: "removeLearners", learners });
  }

  resetLearners(learners: readonly NodeId[]): Promise<ConfState> {
    return this.changeMembership({ kind: "resetLearners", learners });
  }

  /**
   * UNSAFE recovery when a majority of the group is lost for good (SOFAJraft's resetPeers):
   * this node alone adopts `peers` as the voters (learners stay), without consensus, and
   * campaigns under them. Call it on every survivor with the same list. Entries that only
   * the lost nodes held are gone, and lost nodes that come back as they were may form a
   * second cluster: wipe them or keep them away, and add them back as new peers.
   */
  resetPeers(peers: readonly NodeId[]): void {
    this.requireRunning();
    if (!Array.isArray(peers) || peers.length === 0) throw new RaftError("EINVAL", "resetPeers needs a non-empty array of peer ids (host:port[:idx[:priority]])");
    for (const peer of peers) parsePeerId(peer);
    const learners = this.listLearners().filter((id) => !peers.includes(id));
    this.core.forceConfiguration({ voters: peers, learners });
    this.logger.warn(`resetPeers: voters forced to ${peers.join(",")} without consensus; acknowledged writes the lost majority held may be gone (unsafe recovery)`);
    this.readyLoop.kick();
  }

  listPeers(): NodeId[] {
    const conf = this.core.status().conf;
    return [...new Set([...conf.voters, ...conf.outgoing])].sort();
  }

  listLearners(): NodeId[] {
    return [...this.core.status().conf.learners];
  }

  /** On the leader: the voters heard from within an election timeout, itself included. */
  listAlivePeers(): NodeId[] {
    const status = this.core.status();
    if (status.role !== "leader" || status.progress === null) throw notLeader(status.leaderId);
    const since = Date.now() - this.options.electionTimeoutMs;
    return this.listPeers().filter((id) => id === this.options.serverId || (status.progress![id] !== undefined && this.heardFromSince(id, since)));
  }

  /** On the leader: the learners heard from within an election timeout. */
  listAliveLearners(): NodeId[] {
    const status = this.core.status();
    if (status.role !== "leader" || status.progress === null) throw notLeader(status.leaderId);
    const since = Date.now() - this.options.electionTimeoutMs;
    return this.listLearners().filter((id) => status.progress![id] !== undefined && this.heardFromSince(id, since));
  }

  private heardFromSince(peer: NodeId, sinceMs: number): boolean {
    if ((this.lastHeardMs.get(peer) ?? -Infinity) >= sinceMs) return true;
    // A quiesced group exchanges nothing: the probe of the peer's process speaks for it.
    return this.core.quiesced && this.quiescence !== null && this.quiescence.processAnswers(peer);
  }

  /** Starts handing leadership to `peer` ("any": the most up-to-date voter); the transfer gives up after an election timeout. */
  transferLeadershipTo(peer: NodeId | "any"): void {
    this.requireRunning();
    this.core.transferLeadership(peer === "any" ? null : peer);
    this.readyLoop.kick();
  }

  /** Saves a snapshot of the applied state and compacts the log; null when nothing was applied since the last one. */
  snapshot(): Promise<SnapshotMeta | null> {
    try {
      this.requireRunning();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.snapshots.snapshot();
  }

  /** A JSON-able picture of this node, for operators. */
  describe(): NodeDescription {
    const status = this.core.status();
    return {
      groupId: this.options.groupId,
      serverId: this.options.serverId,
      state: this.state,
      term: status.term,
      vote: status.vote,
      leaderId: status.leaderId,
      firstLogIndex: status.firstIndex,
      lastLogIndex: status.lastIndex,
      storedLog: { firstIndex: this.storage.durableLog.log.firstIndex(), lastIndex: this.storage.durableLog.log.lastIndex() },
      committedIndex: status.commit,
      appliedIndex: this.fsm.appliedIndex,
      conf: status.conf,
      transferringTo: status.leadTransferee,
      quiesced: this.core.quiesced,
      progress: status.progress,
      pending: { tasks: this.tasks.size, reads: this.reads.size, confChanges: this.confChanges.size, applyBacklogEntries: this.fsm.pendingEntries },
      lastError: this.lastError === null ? null : { code: this.lastError.code, message: this.lastError.message },
      snapshot: this.snapshots.status(),
      snapshotInstall: this.installer.status(),
      electionTimeoutMs: this.options.electionTimeoutMs,
    };
  }

  /** Stops timers, leaves the group, fails pending work with ESHUTDOWN, closes storage, then calls onShutdown. */
  shutdown(): Promise<void> {
    this.shutdownDone ??= this.stop();
    return this.shutdownDone;
  }

  /** From the transport (see routeUnreachable). */
  reportUnreachable(peer: NodeId): void {
    if (!this.active()) return;
    this.core.reportUnreachable(peer);
    this.readyLoop.kick();
  }

  /**
   * A leader's snapshot for this follower. Its files are copied from the leader
   * into the local store first (see SnapshotInstaller); only then is the message
   * stepped, and the core's Ready resets the log and loads the snapshot.
   */
  installSnapshotFromLeader(message: SnapshotRequest): void {
    // A node in ERROR applies nothing, so it cannot load a snapshot either; restarted after the fix, it catches up.
    if (!this.active() || this.lifecycle === "error") return;
    this.installer.install(message);
  }

  // ---------------------------------------------------------------- inputs

  private receive(message: Message): void {
    if (!this.active()) return;
    if (this.lastHeardMs.has(message.from) || this.lastHeardMs.size < MAX_TRACKED_PEERS) this.lastHeardMs.set(message.from, Date.now());
    if (message.type === "snapshot") {
      this.installSnapshotFromLeader(message);
      return;
    }
    this.step(message);
  }

  private step(message: Message): void {
    if (!this.active()) return;
    // A node that stopped applying must not lead: it ignores a transfer's "campaign now".
    if (this.lifecycle === "error" && message.type === "timeoutNow") return;
    try {
      this.core.step(message);
    } catch (error) {
      if (!(error instanceof RaftError)) {
        this.halt(error);
        return;
      }
      this.logger.warn(`a ${message.type} message from ${message.from} was refused: ${error.message}`);
    }
    this.readyLoop.kick();
  }

  private onTick(): void {
    if (!this.active()) return;
    this.core.tick();
    this.quiescence?.followMembership();
    if (this.lifecycle === "error") this.giveUpLeadership();
    const nowMs = Date.now();
    this.tasks.expire(nowMs);
    this.reads.expire(nowMs);
    this.confChanges.expire(nowMs);
    for (const peer of this.stallWatch.stalled(this.core.pendingSnapshots(), nowMs)) {
      this.logger.warn(`${peer} fetched nothing of the snapshot sent to it for ${this.options.installSnapshotStallMs} ms (installSnapshotStallMs); offering it a snapshot again`);
      this.core.reportSnapshot(peer, false);
    }
    this.readyLoop.kick();
  }

  private changeMembership(change: MembershipChange): Promise<ConfState> {
    try {
      this.requireRunning();
      const status = this.core.status();
      if (status.role !== "leader") throw notLeader(status.leaderId);
      if (this.confChanges.isFull()) throw new RaftError("EBUSY", `${this.confChanges.size} membership changes are in progress; retry once they complete`);
      const target = membershipTarget(status.conf, change);
      const { requestId, promise } = this.confChanges.add(Date.now() + this.options.requestTimeoutMs);
      try {
        this.core.proposeConfChange(target, requestId, "auto");
      } catch (error) {
        this.confChanges.fail(requestId, error);
      }
      this.readyLoop.kick();
      return promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // ---------------------------------------------------------------- output

  private sendAll(messages: readonly Message[]): void {
    for (const message of messages) {
      // A node in ERROR never asks for votes: it must not lead (its pre-votes fail, so its term stays put).
      if (this.lifecycle === "error" && (message.type === "preVote" || message.type === "vote")) continue;
      try {
        this.options.transport.sendRaft(this.options.groupId, message);
      } catch (error) {
        this.logger.warn(`a ${message.type} message to ${message.to} could not be sent: ${describeError(error)}`);
      }
    }
  }

  // ---------------------------------------------------------------- errors and shutdown

  /**
   * The state machine failed: stop applying (never diverge), tell the user
   * once, fail what waits, and hand leadership over. The log is still
   * replicated here; a restart replays it from the last snapshot.
   */
  private enterError(error: RaftError): void {
    if (this.lifecycle !== "running") return;
    this.lifecycle = "error";
    this.lastError = error;
    this.logger.error(`entered the ERROR state, applied up to index ${this.fsm.appliedIndex}; fix the cause and restart the node: ${error.message}`);
    void this.fsm.stop(error);
    try {
      this.stateMachine.onError?.(error);
    } catch (thrown) {
      this.logger.warn(`onError threw (ignored): ${describeError(thrown)}`);
    }
    this.failPending(error);
    this.giveUpLeadership();
    this.readyLoop.kick();
  }

  private giveUpLeadership(): void {
    const status = this.core.status();
    if (status.role !== "leader" || status.leadTransferee !== null) return;
    try {
      this.core.transferLeadership(null);
    } catch (error) {
      if (!this.warnedTransfer) this.logger.warn(`cannot hand over leadership yet (retried every tick): ${describeError(error)}`);
      this.warnedTransfer = true;
    }
  }

  /** Storage or the core failed: nothing may go on, not even replication. */
  private halt(error: unknown): void {
    if (!this.active()) return;
    const failure = error instanceof RaftError ? error : new RaftError("EPERM", `the node stopped after an internal failure: ${describeError(error)}`);
    this.logger.error(`halted: ${failure.message}`);
    this.lastError = failure;
    this.lifecycle = "error";
    this.leaveGroup();
    void this.fsm.stop(failure);
    this.failPending(failure);
  }

  private failPending(error: RaftError): void {
    this.tasks.failAll(error);
    this.reads.failAll(error);
    this.confChanges.failAll(error);
  }

  private async stop(): Promise<void> {
    const shutdownError = new RaftError("ESHUTDOWN", "the node is shutting down");
    this.lifecycle = "shutting";
    this.leaveGroup();
    this.failPending(shutdownError);
    await this.readyLoop.settled();
    await this.installer.stop();
    await this.fsm.stop(shutdownError);
    await this.snapshots.settled();
    await this.storage.durableLog.log.close();
    try {
      this.stateMachine.onShutdown?.();
    } catch (error) {
      this.logger.warn(`onShutdown threw (ignored): ${describeError(error)}`);
    }
    this.lifecycle = "shutdown";
  }

  private leaveGroup(): void {
    if (!this.joined) return;
    this.joined = false;
    this.leaveTicker?.();
    this.leaveTicker = null;
    this.quiescence?.stop();
    // Followers of a quiesced leader would wait for a liveness event that a live process never gives.
    if (this.core.quiesced && this.core.role === "leader") {
      this.core.wake(false);
      this.sendAll(this.core.takeMessages());
    }
    if (this.snapshotTimer !== null) clearInterval(this.snapshotTimer);
    this.snapshotTimer = null;
    this.options.transport.unregisterGroup(this.options.groupId, this.options.serverId);
    this.stopServingSnapshots?.();
    this.stopServingSnapshots = null;
    void this.installer.stop(); // awaited by shutdown; a halted node just lets the copy go
    nodeManager.remove(this, this.options.transport);
  }

  /** Still taking part in the group (ERROR included: it replicates, it does not apply). */
  private active(): boolean {
    return this.joined && (this.lifecycle === "running" || this.lifecycle === "error");
  }

  private requireRunning(): void {
    if (this.lifecycle === "running") return;
    if (this.lifecycle === "error") throw new RaftError(this.lastError?.code ?? "ESTATEMACHINE", `the node is in the ERROR state: ${this.lastError?.message ?? "unknown cause"}; restart it once the cause is fixed`);
    throw new RaftError("ESHUTDOWN", `the node is ${this.lifecycle}`);
  }
}

function notLeader(leaderId: NodeId | null): RaftError {
  return new RaftError("ENOTLEADER", leaderId !== null ? `not the leader; the leader is ${leaderId}` : "not the leader, and no leader is known; retry after an election", leaderId);
}

function prefixedLogger(logger: NodeLogger, prefix: string): NodeLogger {
  return {
    info: (message) => logger.info?.(`${prefix} ${message}`),
    warn: (message) => logger.warn(`${prefix} ${message}`),
    error: (message) => logger.error(`${prefix} ${message}`),
  };
}
