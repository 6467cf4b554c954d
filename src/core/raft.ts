/**
 * The Raft algorithm as a pure, deterministic state machine. Inputs: tick,
 * step(message), propose, proposeConfChange, readIndex, transferLeadership.
 * Output: a Ready the caller persists, sends and applies, then acknowledges
 * with advance(). No I/O, no clock, no randomness but the injected source.
 */
import { RaftError, type RaftErrorCode } from "../errors.js";
import { assertIndex, invariant } from "./assert.js";
import { ConfigLog } from "./config-log.js";
import {
  Configuration,
  decodeConfState,
  encodeConfState,
  leaveJoint,
  nextConfiguration,
  type ConfChangeMode,
  type ConfChangeTarget,
} from "./configuration.js";
import type { LogReader } from "./log-reader.js";
import type {
  AppendRequest,
  AppendResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  PreVoteRequest,
  PreVoteResponse,
  SnapshotRequest,
  VoteRequest,
  VoteResponse,
} from "./messages.js";
import { resolveCoreOptions, type CoreOptions } from "./options.js";
import { Progress, type ProgressState } from "./progress.js";
import type { RandomSource } from "./random.js";
import { RaftLog } from "./raft-log.js";
import { ReadIndexQueue } from "./read-index.js";
import type { ConfChangeResult, ReadState, Ready, Role, SoftState } from "./ready.js";
import { entryBytes, EntryType, hardStateEquals, type ConfState, type Entry, type HardState, type NodeId } from "./types.js";

export interface CoreConfig {
  id: NodeId;
  /** The durable log; the caller writes it as Ready asks, the core reads it. */
  log: LogReader;
  /** As last persisted; EMPTY_HARD_STATE on first boot. */
  hardState: HardState;
  /** What the state machine has applied; defaults to the snapshot's index. */
  applied?: number;
  random: RandomSource;
  options?: Partial<CoreOptions>;
}

export interface CoreStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leaderId: NodeId | null;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  conf: ConfState;
  leadTransferee: NodeId | null;
  progress: Record<NodeId, { match: number; next: number; state: ProgressState }> | null;
}

/** A membership change waiting for its new voters to catch up (thesis §4.2.1). */
interface Catchup {
  readonly requestId: string;
  readonly target: Configuration;
  readonly nodes: readonly NodeId[];
  matchSum: number;
  ticksWithoutProgress: number;
}

type CampaignKind = "preVote" | "vote" | "transfer";

export class RaftCore {
  readonly id: NodeId;
  private readonly options: CoreOptions;
  private readonly random: RandomSource;
  private readonly log: RaftLog;
  private readonly configs: ConfigLog;

  private currentTerm: number;
  private vote: NodeId | null;
  private role: Role = "follower";
  private leaderId: NodeId | null = null;

  /** The core's own clock, in ticks; the lease is measured on it. */
  private tickCount = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  /** Ticks since a leader was last heard from (start-up counts as contact in lease mode). */
  private ticksSinceLeaderContact: number;

  /** The leader's view of every other member, and of peers catching up. */
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private readonly reads = new ReadIndexQueue();
  private leadTransferee: NodeId | null = null;
  /** Set once this leader sent TimeoutNow: no more lease reads in this term. */
  private leaseRevoked = false;
  /** Index of the latest configuration entry the leader appended; a new change waits for its commit. */
  private pendingConfIndex = 0;
  private catchup: Catchup | null = null;
  /** Proposals appended by this leader and not yet committed, oldest first, for the EBUSY bound. */
  private uncommitted: { index: number; bytes: number }[] = [];
  private uncommittedBytes = 0;
  private targetPriority = -1;
  private timeoutsBelowTargetPriority = 0;

  private msgs: Message[] = [];
  private msgsAfterPersist: Message[] = [];
  private readStates: ReadState[] = [];
  private confChangeResults: ConfChangeResult[] = [];

  private persistedHardState: HardState;
  private lastSoftState: SoftState = { role: "follower", leaderId: null };
  private outstanding: Ready | null = null;

  constructor(config: CoreConfig) {
    this.id = config.id;
    this.options = resolveCoreOptions(config.options);
    this.random = config.random;
    const hs = config.hardState;
    assertIndex(hs.term, "hardState.term");
    assertIndex(hs.commit, "hardState.commit");
    const snapshot = config.log.snapshotMeta();
    this.log = new RaftLog(config.log, hs.commit, config.applied ?? snapshot.index);
    this.currentTerm = hs.term;
    this.vote = hs.vote;
    this.persistedHardState = { term: hs.term, vote: hs.vote, commit: this.log.committed };
    this.configs = new ConfigLog(snapshot.index, new Configuration(snapshot.conf));
    this.loadConfigurationsFromLog();
    this.ticksSinceLeaderContact = this.options.readOnly === "lease" ? 0 : this.options.electionTicks;
    this.resetTargetPriority();
    this.resetRandomizedElectionTicks();
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.tickCount++;
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  step(m: Message): void {
    if (m.to !== this.id) throw new RaftError("EINVAL", `message for ${m.to} delivered to ${this.id}`);
    if (!Number.isSafeInteger(m.term) || m.term < 0) throw new RaftError("EINVAL", `message term ${m.term} is not a valid term`);
    if (m.term > this.currentTerm) {
      if (!this.acceptHigherTerm(m)) return;
    } else if (m.term < this.currentTerm) {
      this.answerStaleTerm(m);
      return;
    }
    switch (m.type) {
      case "preVote":
      case "vote":
        this.handleVoteRequest(m);
        return;
      case "readIndex":
        if (this.role === "leader") this.leaderReadIndex(m.context, m.from);
        else this.send({ type: "readIndexResp", from: this.id, to: m.from, term: this.currentTerm, context: m.context, index: -1, error: "ENOTLEADER" });
        return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        return;
      case "preCandidate":
      case "candidate":
        this.stepCandidate(m);
        return;
      case "follower":
        this.stepFollower(m);
        return;
    }
  }

  /** Appends a command; returns where it will be if it commits. */
  propose(data: Uint8Array): { index: number; term: number } {
    this.requireLeader();
    if (this.leadTransferee !== null) {
      throw new RaftError("EBUSY", `leadership is being transferred to ${this.leadTransferee}; retry on the new leader`);
    }
    const bytes = data.byteLength + 24;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.options.maxUncommittedBytes) {
      throw new RaftError("EBUSY", `${this.uncommittedBytes} bytes of proposals are not yet committed (limit ${this.options.maxUncommittedBytes}); slow down and retry`);
    }
    const entry = this.appendLeaderEntry(EntryType.Normal, data);
    this.uncommitted.push({ index: entry.index, bytes });
    this.uncommittedBytes += bytes;
    return { index: entry.index, term: entry.term };
  }

  /**
   * Starts moving the membership to `target`. New voters first catch up; then
   * a configuration entry is appended (reported in Ready.confChangeResults).
   */
  proposeConfChange(target: ConfChangeTarget, requestId: string, mode: ConfChangeMode = "auto"): void {
    this.requireLeader();
    if (this.leadTransferee !== null) throw new RaftError("EBUSY", "a leadership transfer is in progress; retry after it");
    this.requireCommittedInTerm();
    if (this.catchup !== null || this.pendingConfIndex > this.log.committed || this.configs.current().isJoint()) {
      throw new RaftError("EBUSY", "another membership change is in progress; retry once it completes");
    }
    const current = this.configs.current();
    const next = nextConfiguration(current, target, mode);
    const lagging = next
      .allVoters()
      .filter((id) => id !== this.id && !current.isVoter(id) && !this.isCaughtUp(id));
    if (lagging.length === 0) {
      this.appendConfiguration(next, requestId);
      return;
    }
    for (const id of lagging) {
      if (!this.progress.has(id)) this.progress.set(id, this.newProgress());
    }
    this.catchup = { requestId, target: next, nodes: lagging, matchSum: this.catchupMatchSum(lagging), ticksWithoutProgress: 0 };
  }

  /** Asks for a linearizable read point; the answer comes in Ready.readStates. */
  readIndex(context: string): void {
    if (this.role === "leader") {
      this.leaderReadIndex(context, null);
      return;
    }
    if (this.leaderId === null) throw new RaftError("ENOTLEADER", "no leader is known; retry after an election", null);
    this.send({ type: "readIndex", from: this.id, to: this.leaderId, term: this.currentTerm, context });
  }

  /** Hands leadership to `target` (or the most up-to-date voter when null), thesis §3.10. */
  transferLeadership(target: NodeId | null): void {
    this.requireLeader();
    if (this.catchup !== null || this.pendingConfIndex > this.log.committed || this.configs.current().isJoint()) {
      throw new RaftError("EBUSY", "a membership change is in progress; transfer leadership after it completes");
    }
    const conf = this.configs.current();
    const chosen = target ?? this.mostUpToDateVoter();
    if (chosen === null) throw new RaftError("EINVAL", "there is no other voter to transfer leadership to");
    if (chosen === this.id) return;
    if (!conf.voters.has(chosen)) throw new RaftError("EINVAL", `${chosen} is not a voter of the current configuration`);
    if (this.options.priorityOf(chosen) === 0) throw new RaftError("EPERM", `${chosen} has priority 0 and may never lead`);
    this.leadTransferee = chosen;
    this.electionElapsed = 0; // the transfer gives up after one election timeout
    const pr = this.progress.get(chosen)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(chosen);
    else this.sendAppend(chosen, pr, true); // bring it up to date; TimeoutNow follows its answer
  }

  /** Starts an election now (thesis §3.4), honouring pre-vote. */
  campaign(): void {
    if (this.role === "leader") return;
    this.startCampaign(this.options.preVote ? "preVote" : "vote");
  }

  /** The runtime tells the leader whether a snapshot reached `peer`. */
  reportSnapshot(peer: NodeId, ok: boolean): void {
    const pr = this.role === "leader" ? this.progress.get(peer) : undefined;
    if (pr?.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for a heartbeat answer before probing again
  }

  reportUnreachable(peer: NodeId): void {
    const pr = this.role === "leader" ? this.progress.get(peer) : undefined;
    if (pr?.state === "replicate") pr.becomeProbe();
  }

  // ---------------------------------------------------------------- output

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    this.flush();
    const unstable = this.log.unstable();
    return (
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.confChangeResults.length > 0 ||
      unstable.entries.length > 0 ||
      unstable.snapshot !== null ||
      !hardStateEquals(this.hardState(), this.persistedHardState) ||
      this.log.hasNextCommittedEntries() ||
      this.softStateChanged()
    );
  }

  ready(): Ready {
    invariant(this.outstanding === null, "ready() called again before advance()");
    this.flush();
    const hardState = this.hardState();
    invariant(hardState.term >= this.persistedHardState.term, "terms never go back");
    invariant(hardState.commit >= this.persistedHardState.commit, "the commit index never decreases");
    const unstable = this.log.unstable();
    const committedEntries = this.log.nextCommittedEntries(this.options.maxUncommittedBytes);
    if (committedEntries.length > 0) this.log.applying = committedEntries[committedEntries.length - 1]!.index;
    const softState = this.softStateChanged() ? { role: this.role, leaderId: this.leaderId } : null;
    if (softState) this.lastSoftState = softState;
    const ready: Ready = {
      softState,
      hardState: hardStateEquals(hardState, this.persistedHardState) ? null : hardState,
      snapshot: unstable.snapshot,
      entries: [...unstable.entries],
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfterPersist,
      committedEntries,
      readStates: this.readStates,
      confChangeResults: this.confChangeResults,
    };
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readStates = [];
    this.confChangeResults = [];
    this.outstanding = ready;
    return ready;
  }

  /**
   * Messages that need nothing persisted first, for a caller that wants to
   * send them while a Ready is still being written (the leader's appends).
   */
  takeMessages(): Message[] {
    this.flush();
    const out = this.msgs;
    this.msgs = [];
    return out;
  }

  advance(ready: Ready): void {
    invariant(this.outstanding === ready, "advance() must be given the outstanding Ready");
    this.outstanding = null;
    if (ready.hardState) this.persistedHardState = ready.hardState;
    if (ready.snapshot) {
      this.log.stableSnapshotTo(ready.snapshot.index);
    }
    if (ready.entries.length > 0) {
      const last = ready.entries[ready.entries.length - 1]!;
      this.log.stableTo(last.index, last.term);
    }
    if (ready.committedEntries.length > 0) this.log.applied = this.log.applying;
    this.configs.compactTo(this.log.storage.snapshotMeta().index);
    if (this.role === "leader") {
      this.maybeCommit();
    } else if (this.role === "candidate" && this.persistedHardState.term === this.currentTerm && this.persistedHardState.vote === this.id) {
      // Our own vote counts only once it is durable, like any other vote.
      if (!this.votes.has(this.id)) this.recordVote(this.id, true);
    }
  }

  // ---------------------------------------------------------------- queries

  status(): CoreStatus {
    let progress: CoreStatus["progress"] = null;
    if (this.role === "leader") {
      progress = {};
      progress[this.id] = { match: this.log.stableIndex(), next: this.log.lastIndex() + 1, state: "replicate" };
      for (const [id, pr] of this.progress) progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    }
    return {
      id: this.id,
      role: this.role,
      term: this.currentTerm,
      vote: this.vote,
      leaderId: this.leaderId,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: this.configs.current().toState(),
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  /** The membership in force at `index`, to store in a snapshot's metadata. */
  confAt(index: number): ConfState {
    return this.configs.at(index).toState();
  }

  term(index: number): number | undefined {
    return this.log.term(index);
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, leaderId: NodeId | null): void {
    this.reset(term);
    this.role = "follower";
    this.leaderId = leaderId;
    if (leaderId !== null) this.heardFromLeader();
  }

  private becomePreCandidate(): void {
    invariant(this.role !== "leader", "a leader never becomes a pre-candidate");
    // Pre-vote changes neither term nor vote (thesis §9.6).
    this.role = "preCandidate";
    this.leaderId = null;
    this.votes.clear();
    this.electionElapsed = 0;
    this.resetRandomizedElectionTicks();
  }

  private becomeCandidate(): void {
    invariant(this.role !== "leader", "a leader never becomes a candidate");
    this.reset(this.currentTerm + 1);
    this.role = "candidate";
    this.vote = this.id;
  }

  private becomeLeader(): void {
    invariant(this.role === "candidate", "only a candidate becomes leader");
    this.reset(this.currentTerm);
    this.role = "leader";
    this.leaderId = this.id;
    for (const id of this.configs.current().members()) {
      if (id !== this.id) this.progress.set(id, this.newProgress());
    }
    // No membership change until an entry of this term commits (thesis §4.1, the single-server bug fix).
    this.pendingConfIndex = this.log.lastIndex();
    // A no-op entry commits this term and with it every earlier entry (§5.4.2, §8).
    this.appendLeaderEntry(EntryType.Noop, new Uint8Array(0));
  }

  /** What every role change does: new term (when it changes), clear per-role state. */
  private reset(term: number): void {
    invariant(term >= this.currentTerm, () => `term would go back from ${this.currentTerm} to ${term}`);
    if (term !== this.currentTerm) {
      this.currentTerm = term;
      this.vote = null;
    }
    if (this.role === "leader") this.failLeaderWork();
    this.leaderId = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTicks();
    this.votes.clear();
    this.progress.clear();
    this.leadTransferee = null;
    this.leaseRevoked = false;
    this.uncommitted = [];
    this.uncommittedBytes = 0;
  }

  /** Leadership is lost: fail what waits on it, so callers hear at once. */
  private failLeaderWork(): void {
    for (const read of this.reads.drain()) this.answerRead(read.context, -1, "ESTEPPEDDOWN", read.from);
    if (this.catchup !== null) {
      this.finishCatchup("ESTEPPEDDOWN", "leadership was lost while new peers were catching up");
    }
  }

  private heardFromLeader(): void {
    this.ticksSinceLeaderContact = 0;
    this.timeoutsBelowTargetPriority = 0;
    this.resetTargetPriority();
  }

  private resetRandomizedElectionTicks(): void {
    this.randomizedElectionTicks = this.options.electionTicks + this.random.nextInt(this.options.electionTicks);
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    this.ticksSinceLeaderContact++;
    if (!this.promotable() || this.electionElapsed < this.randomizedElectionTicks) return;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTicks();
    if (!this.priorityAllowsElection()) return;
    this.startCampaign(this.options.preVote ? "preVote" : "vote");
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.tickCatchup();
    if (this.electionElapsed >= this.options.electionTicks) {
      this.electionElapsed = 0;
      if (this.options.checkQuorum && !this.quorumActive()) {
        // Check-quorum (thesis §6.2): a leader cut off from a majority steps down.
        this.becomeFollower(this.currentTerm, null);
        return;
      }
      this.leadTransferee = null; // a transfer not done within an election timeout is abandoned
    }
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    const active = this.configs.current().vote((id) => id === this.id || this.progress.get(id)?.recentActive === true);
    for (const pr of this.progress.values()) pr.recentActive = false;
    return active === "won";
  }

  // ---------------------------------------------------------------- elections

  private promotable(): boolean {
    return this.configs.current().isVoter(this.id) && this.log.unstable().snapshot === null;
  }

  /** SOFAJraft's priority election: only a peer at or above the target priority runs; the target decays. */
  private priorityAllowsElection(): boolean {
    const priority = this.options.priorityOf(this.id);
    if (priority === -1) return true;
    if (priority === 0) return false;
    if (priority >= this.targetPriority) return true;
    this.timeoutsBelowTargetPriority++;
    if (this.timeoutsBelowTargetPriority > 1) {
      const gap = Math.max(this.options.priorityDecayGap, Math.floor(this.targetPriority / 5));
      this.targetPriority = Math.max(1, this.targetPriority - gap);
      this.timeoutsBelowTargetPriority = 0;
    }
    return priority >= this.targetPriority;
  }

  private resetTargetPriority(): void {
    let target = -1;
    for (const id of this.configs.current().allVoters()) target = Math.max(target, this.options.priorityOf(id));
    this.targetPriority = target;
  }

  private startCampaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteTerm: number;
    if (kind === "preVote") {
      this.becomePreCandidate();
      voteTerm = this.currentTerm + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.currentTerm;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.configs.current().allVoters()) {
      if (id === this.id) continue;
      if (kind === "preVote") {
        this.send({ type: "preVote", from: this.id, to: id, term: voteTerm, lastIndex, lastTerm });
      } else {
        this.send({ type: "vote", from: this.id, to: id, term: voteTerm, lastIndex, lastTerm, force: kind === "transfer" });
      }
    }
    // A pre-vote for ourselves needs nothing durable; a real vote counts after advance() (see there).
    if (kind === "preVote") this.recordVote(this.id, true);
  }

  private recordVote(from: NodeId, granted: boolean): void {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const outcome = this.configs.current().vote((id) => this.votes.get(id));
    if (outcome === "won") {
      if (this.role === "preCandidate") this.startCampaign("vote");
      else this.becomeLeader();
    } else if (outcome === "lost") {
      this.becomeFollower(this.currentTerm, null);
    }
  }

  /** A node that heard from a live leader within an election timeout ignores (pre)votes (thesis §4.2.3). */
  private inLease(): boolean {
    if (!this.options.checkQuorum) return false;
    if (this.role === "leader") return true;
    return this.ticksSinceLeaderContact < this.options.electionTicks;
  }

  /** Returns false when the message is to be ignored. */
  private acceptHigherTerm(m: Message): boolean {
    const isVoteRequest = m.type === "preVote" || m.type === "vote";
    const forced = m.type === "vote" && m.force;
    if (isVoteRequest && !forced && this.inLease()) return false;
    if (m.type === "preVote") return true; // a pre-vote changes nothing
    if (m.type === "preVoteResp" && !m.reject) return true; // granted for the term we asked for
    const fromLeader = m.type === "append" || m.type === "heartbeat" || m.type === "snapshot";
    this.becomeFollower(m.term, fromLeader ? m.from : null);
    return true;
  }

  private answerStaleTerm(m: Message): void {
    if ((this.options.checkQuorum || this.options.preVote) && (m.type === "append" || m.type === "heartbeat")) {
      // A deposed leader may never hear of the new term otherwise (with pre-vote nobody
      // disrupts it): tell it, so it steps down.
      this.send({ type: "appendResp", from: this.id, to: m.from, term: this.currentTerm, reject: true, index: 0, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === "preVote") {
      this.send({ type: "preVoteResp", from: this.id, to: m.from, term: this.currentTerm, reject: true });
    }
  }

  private handleVoteRequest(m: PreVoteRequest | VoteRequest): void {
    const isPreVote = m.type === "preVote";
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leaderId === null) ||
      (isPreVote && m.term > this.currentTerm);
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      if (isPreVote) {
        // Granted at the asked term, so the pre-candidate does not mistake it for a newer term.
        this.send({ type: "preVoteResp", from: this.id, to: m.from, term: m.term, reject: false });
      } else {
        this.electionElapsed = 0;
        this.vote = m.from;
        this.sendAfterPersist({ type: "voteResp", from: this.id, to: m.from, term: this.currentTerm, reject: false });
      }
      return;
    }
    if (isPreVote) this.send({ type: "preVoteResp", from: this.id, to: m.from, term: this.currentTerm, reject: true });
    else this.sendAfterPersist({ type: "voteResp", from: this.id, to: m.from, term: this.currentTerm, reject: true });
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        // A leader of our term exists (§5.2): follow it.
        this.becomeFollower(this.currentTerm, m.from);
        this.stepFollower(m);
        return;
      case "preVoteResp":
      case "voteResp":
        this.handleVoteResponse(m);
        return;
      case "readIndexResp":
        this.readStates.push({ context: m.context, index: m.index, error: (m.error as RaftErrorCode | null) ?? null });
        return;
      default:
        return;
    }
  }

  private handleVoteResponse(m: PreVoteResponse | VoteResponse): void {
    const expected = this.role === "preCandidate" ? "preVoteResp" : "voteResp";
    if (m.type !== expected) return;
    this.recordVote(m.from, !m.reject);
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "append":
        this.followLeader(m.from);
        this.handleAppend(m);
        return;
      case "heartbeat":
        this.followLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case "snapshot":
        this.followLeader(m.from);
        this.handleSnapshot(m);
        return;
      case "timeoutNow":
        // Leadership transfer: campaign at once, skipping pre-vote, past the others' leases.
        this.startCampaign("transfer");
        return;
      case "readIndexResp":
        this.readStates.push({ context: m.context, index: m.index, error: (m.error as RaftErrorCode | null) ?? null });
        return;
      default:
        return;
    }
  }

  private followLeader(leader: NodeId): void {
    invariant(this.leaderId === null || this.leaderId === leader, () => `two leaders in term ${this.currentTerm}: ${this.leaderId} and ${leader}`);
    this.electionElapsed = 0;
    if (this.leaderId === null) {
      this.leaderId = leader;
    }
    this.heardFromLeader();
  }

  private handleAppend(m: AppendRequest): void {
    const reply = (fields: Pick<AppendResponse, "reject" | "index" | "hintIndex" | "hintTerm">): void =>
      this.sendAfterPersist({ type: "appendResp", from: this.id, to: m.from, term: this.currentTerm, ...fields });
    if (m.prevIndex < this.log.committed) {
      reply({ reject: false, index: this.log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (!this.log.matchTerm(m.prevIndex, m.prevTerm)) {
      // Log matching (§5.3) fails here: tell the leader where our logs may still agree.
      const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
      reply({ reject: true, index: m.prevIndex, hintIndex: hint.index, hintTerm: hint.term });
      return;
    }
    const lastNewIndex = m.prevIndex + m.entries.length;
    const conflict = this.log.findConflict(m.entries);
    if (conflict !== 0) {
      invariant(conflict > this.log.committed, () => `entry ${conflict} conflicts with a committed entry (commit ${this.log.committed})`);
      this.appendToLog(m.entries.slice(conflict - (m.prevIndex + 1)));
    }
    this.log.commitTo(Math.min(m.commit, lastNewIndex));
    reply({ reject: false, index: lastNewIndex, hintIndex: 0, hintTerm: 0 });
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    // The leader sends at most our match index, so this never passes our log.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: "heartbeatResp", from: this.id, to: m.from, term: this.currentTerm, readSeq: m.readSeq, sentTick: m.sentTick });
  }

  private handleSnapshot(m: SnapshotRequest): void {
    const snapshot = m.snapshot;
    const reply = (index: number): void =>
      this.sendAfterPersist({ type: "appendResp", from: this.id, to: m.from, term: this.currentTerm, reject: false, index, hintIndex: 0, hintTerm: 0 });
    if (snapshot.index <= this.log.committed) {
      reply(this.log.committed);
      return;
    }
    if (this.log.matchTerm(snapshot.index, snapshot.term)) {
      // We already have the snapshot's last entry: just commit up to it.
      this.log.commitTo(snapshot.index);
      reply(this.log.committed);
      return;
    }
    this.log.restore(snapshot);
    this.configs.reset(snapshot.index, new Configuration(snapshot.conf));
    this.onConfigurationChanged();
    reply(snapshot.index);
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    switch (m.type) {
      case "appendResp":
        this.handleAppendResponse(m);
        return;
      case "heartbeatResp":
        this.handleHeartbeatResponse(m);
        return;
      case "append":
      case "heartbeat":
      case "snapshot":
        invariant(false, () => `two leaders in term ${this.currentTerm}: ${this.id} and ${m.from}`);
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      const matchHint = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
      if (pr.maybeDecreaseTo(m.index, matchHint) && pr.state === "replicate") pr.becomeProbe();
      return;
    }
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === "probe")) return;
    if (pr.state === "probe") {
      pr.becomeReplicate();
    } else if (pr.state === "snapshot" && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") {
      pr.inflights.freeUpTo(m.index);
    }
    this.maybeCommit();
    if (this.role !== "leader") return;
    this.checkCatchup();
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.match < this.log.lastIndex()) {
      // The follower is behind and may have lost appends: an append (empty if need be)
      // either carries what is missing or draws a rejection that resets the window.
      if (pr.state === "replicate" && pr.inflights.isFull(this.options.maxInflightAppends, this.options.maxInflightBytes)) {
        pr.inflights.freeFirst();
      }
      this.sendAppend(m.from, pr, true);
    }
    pr.ackedReadSeq = Math.max(pr.ackedReadSeq, m.readSeq);
    pr.ackedSentTick = Math.max(pr.ackedSentTick, m.sentTick);
    const conf = this.configs.current();
    const confirmed = conf.quorumValue((id) => (id === this.id ? Number.MAX_SAFE_INTEGER : (this.progress.get(id)?.ackedReadSeq ?? 0)));
    for (const read of this.reads.release(confirmed)) this.answerRead(read.context, read.index, null, read.from);
  }

  private leaderReadIndex(context: string, from: NodeId | null): void {
    const refuse = (code: RaftErrorCode, message: string): void => {
      if (from === null) throw new RaftError(code, message);
      this.answerRead(context, -1, code, from);
    };
    if (this.log.term(this.log.committed) !== this.currentTerm) {
      refuse("EAGAIN", "the new leader has not yet committed an entry of its term; retry shortly");
      return;
    }
    const commit = this.log.committed;
    const conf = this.configs.current();
    if (conf.quorumValue((id) => (id === this.id ? 1 : 0)) === 1) {
      this.answerRead(context, commit, null, from); // we alone are a quorum
      return;
    }
    if (this.options.readOnly === "lease" && !this.leaseRevoked && this.leaseValid()) {
      this.answerRead(context, commit, null, from);
      return;
    }
    if (this.reads.size >= this.options.maxPendingReads) {
      refuse("EBUSY", `${this.reads.size} reads are waiting for confirmation (limit ${this.options.maxPendingReads}); retry later`);
      return;
    }
    this.reads.add(context, commit, from);
  }

  /**
   * The lease: no other leader can exist until electionTicks after the newest
   * heartbeat a quorum acknowledged was sent, since those voters ignore
   * elections that long; leaseRatioPct leaves a margin for clock drift.
   */
  private leaseValid(): boolean {
    const conf = this.configs.current();
    const sentTick = conf.quorumValue((id) => (id === this.id ? this.tickCount : (this.progress.get(id)?.ackedSentTick ?? Number.MIN_SAFE_INTEGER)));
    const leaseTicks = Math.floor((this.options.electionTicks * this.options.leaseRatioPct) / 100);
    return this.tickCount < sentTick + leaseTicks;
  }

  private answerRead(context: string, index: number, error: RaftErrorCode | null, to: NodeId | null): void {
    if (to === null || to === this.id) this.readStates.push({ context, index, error });
    else this.send({ type: "readIndexResp", from: this.id, to, term: this.currentTerm, context, index, error });
  }

  private maybeCommit(): void {
    const conf = this.configs.current();
    const quorumIndex = conf.quorumValue((id) => (id === this.id ? this.log.stableIndex() : (this.progress.get(id)?.match ?? 0)));
    // Only an entry of the current term commits by counting replicas (§5.4.2, Figure 8).
    if (quorumIndex <= this.log.committed || this.log.term(quorumIndex) !== this.currentTerm) return;
    this.log.commitTo(quorumIndex);
    this.onLeaderCommitAdvanced();
  }

  private onLeaderCommitAdvanced(): void {
    const committed = this.log.committed;
    let done = 0;
    while (done < this.uncommitted.length && this.uncommitted[done]!.index <= committed) {
      this.uncommittedBytes -= this.uncommitted[done]!.bytes;
      done++;
    }
    if (done > 0) this.uncommitted.splice(0, done);
    const conf = this.configs.current();
    if (this.configs.currentIndex() > committed) return;
    if (conf.isJoint()) {
      // The joint configuration is committed: move on to the new one by ourselves (thesis §4.3).
      this.appendConfiguration(leaveJoint(conf), null);
    } else if (!conf.isVoter(this.id)) {
      // Removed, and the configuration without us is committed: step down (thesis §4.2.2),
      // handing over to the most up-to-date voter so the cluster does not wait for a timeout.
      const successor = this.mostUpToDateVoter();
      if (successor !== null && this.progress.get(successor)!.match === this.log.lastIndex()) this.sendTimeoutNow(successor);
      this.becomeFollower(this.currentTerm, null);
    }
  }

  private appendLeaderEntry(type: EntryType, data: Uint8Array): Entry {
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.currentTerm, type, data };
    this.appendToLog([entry]);
    return entry;
  }

  private appendConfiguration(conf: Configuration, requestId: string | null): void {
    const entry = this.appendLeaderEntry(EntryType.Config, encodeConfState(conf.toState()));
    this.pendingConfIndex = entry.index;
    if (requestId !== null) this.confChangeResults.push({ requestId, index: entry.index, error: null, message: null });
  }

  /** Appends to our log; configuration entries take effect right away (thesis §4.1). */
  private appendToLog(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (this.role === "leader") {
      invariant(first === this.log.lastIndex() + 1, "a leader never overwrites its own log (§5.3 Leader Append-Only)");
    }
    const before = this.configs.current();
    this.configs.truncateFrom(first);
    this.log.append(entries);
    for (const entry of entries) {
      if (entry.type === EntryType.Config) this.configs.add(entry.index, new Configuration(decodeConfState(entry.data)));
    }
    if (this.configs.current() !== before) this.onConfigurationChanged();
  }

  private onConfigurationChanged(): void {
    this.resetTargetPriority();
    if (this.role !== "leader") return;
    const conf = this.configs.current();
    const keep = new Set([...conf.members(), ...(this.catchup?.nodes ?? [])]);
    for (const id of keep) {
      if (id !== this.id && !this.progress.has(id)) this.progress.set(id, this.newProgress());
    }
    for (const id of [...this.progress.keys()]) if (!keep.has(id)) this.progress.delete(id);
    if (this.leadTransferee !== null && !conf.voters.has(this.leadTransferee)) this.leadTransferee = null;
  }

  private newProgress(): Progress {
    const pr = new Progress(this.log.lastIndex() + 1);
    pr.recentActive = true; // a new peer gets one election timeout before counting as dead
    return pr;
  }

  // ---------------------------------------------------------------- catch-up

  private isCaughtUp(id: NodeId): boolean {
    const pr = this.progress.get(id);
    return pr !== undefined && pr.match + this.options.catchupMargin >= this.log.lastIndex();
  }

  private catchupMatchSum(nodes: readonly NodeId[]): number {
    let sum = 0;
    for (const id of nodes) sum += this.progress.get(id)?.match ?? 0;
    return sum;
  }

  private checkCatchup(): void {
    const catchup = this.catchup;
    if (catchup === null || !catchup.nodes.every((id) => this.isCaughtUp(id))) return;
    this.catchup = null;
    this.appendConfiguration(catchup.target, catchup.requestId);
  }

  /** New voters must make progress; one that stalls for two election timeouts fails the change (ECATCHUP). */
  private tickCatchup(): void {
    const catchup = this.catchup;
    if (catchup === null) return;
    const sum = this.catchupMatchSum(catchup.nodes);
    const snapshotting = catchup.nodes.some((id) => this.progress.get(id)?.state === "snapshot");
    if (sum > catchup.matchSum || snapshotting) {
      catchup.matchSum = sum;
      catchup.ticksWithoutProgress = 0;
      return;
    }
    if (++catchup.ticksWithoutProgress >= 2 * this.options.electionTicks) {
      const stalled = catchup.nodes.filter((id) => !this.isCaughtUp(id)).join(", ");
      this.finishCatchup("ECATCHUP", `${stalled} did not catch up with the leader's log; check that the peer is running and reachable`);
    }
  }

  private finishCatchup(code: RaftErrorCode, message: string): void {
    const catchup = this.catchup!;
    this.catchup = null;
    this.confChangeResults.push({ requestId: catchup.requestId, index: -1, error: code, message });
    if (this.role === "leader") this.onConfigurationChanged(); // drop progress of peers that are not members
  }

  // ---------------------------------------------------------------- sending

  /** Work deferred so that many inputs share one round of messages: appends, commit news, read rounds. */
  private flush(): void {
    if (this.role !== "leader") return;
    if (this.reads.needsBroadcast()) this.broadcastHeartbeat();
    for (const [id, pr] of this.progress) {
      while (this.sendAppend(id, pr, false)) {
        // as much as the in-flight window allows
      }
      if (pr.sentCommit < this.log.committed) this.sendAppend(id, pr, true);
    }
  }

  private sendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused(this.options.maxInflightAppends, this.options.maxInflightBytes)) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) return this.sendSnapshot(to, pr);
    const lastIndex = this.log.lastIndex();
    let entries: Entry[] = [];
    if (pr.next <= lastIndex) {
      const room = Math.max(1, Math.min(this.options.maxBytesPerAppend, this.options.maxInflightBytes - pr.inflights.bytes));
      entries = this.log.entries(pr.next, Math.min(lastIndex + 1, pr.next + this.options.maxEntriesPerAppend), room);
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commit = this.log.committed;
    this.send({ type: "append", from: this.id, to, term: this.currentTerm, prevIndex, prevTerm, entries, commit });
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    pr.sentEntries(prevIndex + entries.length, bytes, entries.length);
    pr.sentCommit = commit;
    return entries.length > 0;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false; // do not ship a snapshot to a peer that looks dead
    const snapshot = this.log.snapshotMeta();
    pr.becomeSnapshot(snapshot.index);
    this.send({ type: "snapshot", from: this.id, to, term: this.currentTerm, snapshot });
    return false;
  }

  private broadcastHeartbeat(): void {
    const readSeq = this.reads.latestSeq();
    this.reads.markBroadcast(readSeq);
    for (const [id, pr] of this.progress) {
      // Never more than the follower's match: its log may not reach our commit yet.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: "heartbeat", from: this.id, to: id, term: this.currentTerm, commit, readSeq, sentTick: this.tickCount });
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    // The target may win at any time from now on, even after we abandon the transfer,
    // and its forced election ignores the voters' leases: ours is void for this term.
    this.leaseRevoked = true;
    this.send({ type: "timeoutNow", from: this.id, to, term: this.currentTerm });
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private sendAfterPersist(m: Message): void {
    this.msgsAfterPersist.push(m);
  }

  // ---------------------------------------------------------------- helpers

  private requireLeader(): void {
    if (this.role !== "leader") {
      throw new RaftError("ENOTLEADER", this.leaderId ? `not the leader; the leader is ${this.leaderId}` : "not the leader, and no leader is known; retry after an election", this.leaderId);
    }
  }

  private requireCommittedInTerm(): void {
    if (this.log.term(this.log.committed) !== this.currentTerm) {
      throw new RaftError("EAGAIN", "the new leader has not yet committed an entry of its term; retry shortly");
    }
  }

  private mostUpToDateVoter(): NodeId | null {
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const id of this.configs.current().voters) {
      if (id === this.id || this.options.priorityOf(id) === 0) continue;
      const match = this.progress.get(id)?.match ?? -1;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    return best;
  }

  private hardState(): HardState {
    return { term: this.currentTerm, vote: this.vote, commit: this.log.committed };
  }

  private softStateChanged(): boolean {
    return this.lastSoftState.role !== this.role || this.lastSoftState.leaderId !== this.leaderId;
  }

  /** Rebuilds the membership history from configuration entries in the log (on start). */
  private loadConfigurationsFromLog(): void {
    const storage = this.log.storage;
    let index = storage.firstIndex();
    const last = storage.lastIndex();
    while (index <= last) {
      const batch = storage.entries(index, last + 1, 4 * 1024 * 1024);
      for (const entry of batch) {
        if (entry.type === EntryType.Config) this.configs.add(entry.index, new Configuration(decodeConfState(entry.data)));
      }
      index += batch.length;
    }
  }
}
