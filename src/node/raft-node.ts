/**
 * RaftNode: what users embed. It drives the pure core with real time (ticks),
 * the transport (messages in and out), durable storage (the Ready contract in
 * core/ready.ts) and the user's StateMachine (through the FsmCaller), and
 * offers SOFAJraft's Node API: apply, readIndex, membership, leadership
 * transfer, snapshots, status.
 */
import { randomInt } from "node:crypto";
import type { Message, SnapshotRequest } from "../core/messages.js";
import type { ReadOnlyMode } from "../core/options.js";
import { RaftCore } from "../core/raft.js";
import { SeededRandom } from "../core/random.js";
import type { ConfState, NodeId, SnapshotMeta } from "../core/types.js";
import { RaftError } from "../errors.js";
import { parsePeerId } from "../transport/peer-address.js";
import { openNodeStorage, warnIfInitialServersIgnored, type NodeStorage } from "./boot.js";
import { ClientRequests } from "./client-requests.js";
import { FsmCaller, describeError } from "./fsm-caller.js";
import { GroupParticipation } from "./group-participation.js";
import { MemberRoster } from "./member-roster.js";
import { nodeManager } from "./node-manager.js";
import { describeNode, type NodeDescription } from "./node-description.js";
import { NodeLifecycle } from "./node-lifecycle.js";
import { nodeState, type NodeState } from "./node-state.js";
import { prefixedLogger, resolveNodeOptions, type NodeLogger, type NodeOptions, type ResolvedNodeOptions } from "./options.js";
import { livenessOf } from "./peer-liveness.js";
import { QuiescenceWatch } from "./quiescence-watch.js";
import { ReadyLoop } from "./ready-loop.js";
import { RoleNotifier } from "./role-notifier.js";
import { SnapshotExecutor } from "./snapshot-executor.js";
import { SnapshotInstaller, sharedThrottle } from "./snapshot-installer.js";
import { SnapshotStallWatch } from "./snapshot-stall-watch.js";
import type { StateMachine } from "./state-machine.js";

export interface ApplyTask {
  readonly data: Uint8Array;
  /** Refuse (EPERM) unless this node leads in exactly this term. */
  readonly expectedTerm?: number;
  /**
   * Handed back as the iterator's `context` when this node applies the entry
   * (see ApplyIterator.context): the proposer's own form of `data`, so its
   * state machine need not decode the entry it just encoded.
   */
  readonly context?: unknown;
}

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
    // Peers and tools may ask this process about the group while its log loads: they hear "retry".
    const started = nodeManager.starting(resolved.groupId, resolved.transport);
    try {
      const storage = await openNodeStorage(resolved.dataDir, resolved.initialServerList, resolved.sync, logger);
      const node = new RaftNode(resolved, storage, logger);
      try {
        await node.boot();
      } catch (error) {
        await storage.durableLog.log.close();
        throw error;
      }
      return node;
    } finally {
      started();
    }
  }

  private readonly core: RaftCore;
  private readonly fsm: FsmCaller;
  private readonly snapshots: SnapshotExecutor;
  private readonly installer: SnapshotInstaller;
  private readonly stallWatch: SnapshotStallWatch;
  private readonly requests: ClientRequests;
  private readonly stateMachine: StateMachine;
  private readonly life: NodeLifecycle;
  private readonly group: GroupParticipation;
  private readonly roster: MemberRoster;
  private readonly readyLoop: ReadyLoop;
  private readonly roles: RoleNotifier;
  /** Wakes the core when a member's process goes or comes back; null when quiescing is off. */
  private readonly quiescence: QuiescenceWatch | null;
  private shutdownDone: Promise<void> | null = null;

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
    this.requests = new ClientRequests({
      core: this.core,
      options,
      requireRunning: () => this.life.requireRunning(),
      kick: () => this.readyLoop.kick(),
    });
    const { tasks, reads, confChanges } = this.requests;
    this.fsm = new FsmCaller(
      {
        stateMachine: this.stateMachine,
        applyBatch: options.applyBatch,
        claimTask: (index, term) => {
          confChanges.entryApplied(index, term);
          return tasks.claim(index, term);
        },
        configApplied: (index, conf) => confChanges.configApplied(index, conf),
        applied: (index) => {
          reads.onApplied(index);
          this.snapshots.maybeSaveByMargin(index);
        },
        snapshotLoaded: (meta) => {
          tasks.failThrough(meta.index);
          confChanges.failThrough(meta.index);
        },
        loadSnapshot: (meta) => this.snapshots.load(meta),
        failed: (error) => this.life.enterError(error),
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
    this.life = new NodeLifecycle({
      core: this.core,
      fsm: this.fsm,
      stateMachine: this.stateMachine,
      logger,
      joined: () => this.group.joined,
      leaveGroup: () => this.group.leave(),
      failPending: (error) => this.requests.failAll(error),
      kick: () => this.readyLoop.kick(),
    });
    this.group = new GroupParticipation({
      node: this,
      options,
      core: this.core,
      snapshotStore: storage.snapshots,
      installer: this.installer,
      quiescence: this.quiescence,
      receive: (message) => this.receive(message),
      tick: () => this.onTick(),
      snapshotDue: () => {
        if (this.life.stage === "running") this.snapshots.onInterval(this.fsm.appliedIndex);
      },
      snapshotServed: (requesterAddress) => this.stallWatch.served(requesterAddress, Date.now()),
      send: (messages) => this.sendAll(messages),
    });
    this.roster = new MemberRoster(this.core, options.serverId, options.electionTimeoutMs, this.quiescence);
    this.roles = new RoleNotifier(options.serverId, this.stateMachine, this.fsm, storage.hardState.term);
    this.readyLoop = new ReadyLoop({
      core: this.core,
      storage,
      fsm: this.fsm,
      reads,
      confChanges,
      active: () => this.life.active(),
      send: (messages) => this.sendAll(messages),
      onSoftState: (softState) => {
        if (softState.role !== "leader") this.answerTasksIfRemoved();
        this.roles.onSoftState(softState, this.core.currentTerm);
      },
      halt: (error) => this.life.halt(error),
    });
  }

  /**
   * A leader removed from the group steps down with its proposals past the commit index
   * unanswered; no leader replicates to it any more, so it would never learn their fate.
   * Answer them now (outcome unknown) rather than at requestTimeoutMs: the proposer retries elsewhere.
   */
  private answerTasksIfRemoved(): void {
    if (this.requests.tasks.size === 0 || this.core.members().includes(this.options.serverId)) return;
    this.requests.tasks.failAfter(this.core.committed, new RaftError("ESTEPPEDDOWN", `${this.options.serverId} was removed from group "${this.options.groupId}" while leading; the task may or may not have been applied, ask the new leader`));
  }

  private async boot(): Promise<void> {
    if (this.storage.latestSnapshot !== null) await this.snapshots.loadAtStart(this.storage.latestSnapshot);
    warnIfInitialServersIgnored(this.storage, this.options.initialServerList, this.roster.peers(), this.logger);
    if (!this.options.sync) this.logger.warn("sync: false: log writes are not flushed to disk; a crash may lose acknowledged writes (tests and benchmarks only)");
    this.life.moveTo("running");
    this.group.join();
    this.readyLoop.kick();
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
    return nodeState(this.life.stage, status.role, status.leadTransferee !== null);
  }

  isLeader(): boolean {
    return this.life.stage === "running" && this.core.role === "leader";
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
    return this.requests.apply(task);
  }

  /**
   * A linearizable read point: resolves with an index once this node has applied up to it (thesis §6.4).
   * `mode` (default: the readOnly option) picks a quorum round ("safe") or the leader's lease ("lease",
   * thesis §6.4.1), which only a node started with readOnly "lease" grants; elsewhere it is a safe read.
   */
  readIndex(mode?: ReadOnlyMode): Promise<number> {
    return this.requests.readIndex(mode);
  }

  addPeer(peer: NodeId): Promise<ConfState> {
    return this.requests.changeMembership({ kind: "addPeer", peer });
  }

  removePeer(peer: NodeId): Promise<ConfState> {
    return this.requests.changeMembership({ kind: "removePeer", peer });
  }

  /** Replaces the voters (a learner named here is promoted); more than one voter changed goes through a joint configuration. */
  changePeers(voters: readonly NodeId[]): Promise<ConfState> {
    return this.requests.changeMembership({ kind: "changePeers", voters });
  }

  addLearners(learners: readonly NodeId[]): Promise<ConfState> {
    return this.requests.changeMembership({ kind: "addLearners", learners });
  }

  removeLearners(learners: readonly NodeId[]): Promise<ConfState> {
    return this.requests.changeMembership({ kind: "removeLearners", learners });
  }

  resetLearners(learners: readonly NodeId[]): Promise<ConfState> {
    return this.requests.changeMembership({ kind: "resetLearners", learners });
  }

  /**
   * UNSAFE recovery when a majority of the group is lost for good (SOFAJraft's resetPeers):
   * this node alone adopts `peers` as the voters (learners stay), without consensus, and
   * campaigns under them. Call it on every survivor with the same list. Entries that only
   * the lost nodes held are gone, and lost nodes that come back as they were may form a
   * second cluster: wipe them or keep them away, and add them back as new peers.
   */
  resetPeers(peers: readonly NodeId[]): void {
    this.life.requireRunning();
    if (!Array.isArray(peers) || peers.length === 0) throw new RaftError("EINVAL", "resetPeers needs a non-empty array of peer ids (host:port[:idx[:priority]])");
    for (const peer of peers) parsePeerId(peer);
    const learners = this.listLearners().filter((id) => !peers.includes(id));
    this.core.forceConfiguration({ voters: peers, learners });
    this.logger.warn(`resetPeers: voters forced to ${peers.join(",")} without consensus; acknowledged writes the lost majority held may be gone (unsafe recovery)`);
    this.readyLoop.kick();
  }

  listPeers(): NodeId[] {
    return this.roster.peers();
  }

  listLearners(): NodeId[] {
    return this.roster.learners();
  }

  /** On the leader: the voters heard from within an election timeout, itself included. */
  listAlivePeers(): NodeId[] {
    return this.roster.alivePeers();
  }

  /** On the leader: the learners heard from within an election timeout. */
  listAliveLearners(): NodeId[] {
    return this.roster.aliveLearners();
  }

  /** Starts handing leadership to `peer` ("any": the most up-to-date voter); the transfer gives up after an election timeout. */
  transferLeadershipTo(peer: NodeId | "any"): void {
    this.life.requireRunning();
    this.core.transferLeadership(peer === "any" ? null : peer);
    this.readyLoop.kick();
  }

  /** Saves a snapshot of the applied state and compacts the log; null when nothing was applied since the last one. */
  snapshot(): Promise<SnapshotMeta | null> {
    try {
      this.life.requireRunning();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.snapshots.snapshot();
  }

  /** A JSON-able picture of this node, for operators. */
  describe(): NodeDescription {
    const { options, core, storage, fsm, requests, snapshots, installer } = this;
    return describeNode({ options, state: this.state, lastError: this.life.lastError, core, storage, fsm, requests, snapshots, installer });
  }

  /** Stops timers, leaves the group, fails pending work with ESHUTDOWN, closes storage, then calls onShutdown. */
  shutdown(): Promise<void> {
    this.shutdownDone ??= this.stop();
    return this.shutdownDone;
  }

  /** From the transport (see routeUnreachable). */
  reportUnreachable(peer: NodeId): void {
    if (!this.life.active()) return;
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
    if (!this.life.active() || this.life.stage === "error") return;
    this.installer.install(message);
  }

  // ---------------------------------------------------------------- inputs

  private receive(message: Message): void {
    if (!this.life.active()) return;
    this.roster.heardFrom(message.from);
    if (message.type === "snapshot") {
      this.installSnapshotFromLeader(message);
      return;
    }
    this.step(message);
  }

  private step(message: Message): void {
    if (!this.life.active()) return;
    // A node that stopped applying must not lead: it ignores a transfer's "campaign now".
    if (this.life.stage === "error" && message.type === "timeoutNow") return;
    try {
      this.core.step(message);
    } catch (error) {
      if (!(error instanceof RaftError)) {
        this.life.halt(error);
        return;
      }
      this.logger.warn(`a ${message.type} message from ${message.from} was refused: ${error.message}`);
    }
    this.readyLoop.kick();
  }

  private onTick(): void {
    if (!this.life.active()) return;
    this.core.tick();
    this.quiescence?.followMembership();
    if (this.life.stage === "error") this.life.giveUpLeadership();
    const nowMs = Date.now();
    this.requests.expire(nowMs);
    for (const peer of this.stallWatch.stalled(this.core.pendingSnapshots(), nowMs)) {
      this.logger.warn(`${peer} fetched nothing of the snapshot sent to it for ${this.options.installSnapshotStallMs} ms (installSnapshotStallMs); offering it a snapshot again`);
      this.core.reportSnapshot(peer, false);
    }
    this.readyLoop.kick();
  }

  // ---------------------------------------------------------------- output

  private sendAll(messages: readonly Message[]): void {
    for (const message of messages) {
      // A node in ERROR never asks for votes: it must not lead (its pre-votes fail, so its term stays put).
      if (this.life.stage === "error" && (message.type === "preVote" || message.type === "vote")) continue;
      try {
        this.options.transport.sendRaft(this.options.groupId, message);
      } catch (error) {
        this.logger.warn(`a ${message.type} message to ${message.to} could not be sent: ${describeError(error)}`);
      }
    }
  }

  // ---------------------------------------------------------------- shutdown

  private async stop(): Promise<void> {
    const shutdownError = new RaftError("ESHUTDOWN", "the node is shutting down");
    this.life.moveTo("shutting");
    this.group.leave();
    this.requests.failAll(shutdownError);
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
    this.life.moveTo("shutdown");
  }
}
