/**
 * The Raft algorithm as a pure, deterministic state machine. Inputs: tick,
 * step(message), propose, proposeConfChange, readIndex, transferLeadership.
 * Output: a Ready the caller persists, sends and applies, then acknowledges
 * with advance(). No I/O, no clock, no randomness but the injected source.
 */
import { RaftError } from "../errors.js";
import { assertIndex, invariant } from "./assert.js";
import { ConfigLog } from "./config-log.js";
import { Configuration, decodeConfState, encodeConfState, type ConfChangeMode, type ConfChangeTarget } from "./configuration.js";
import { Leadership, type LeaderHost } from "./leader.js";
import type { LogReader } from "./log-reader.js";
import type {
  AppendRequest,
  AppendResponse,
  HeartbeatRequest,
  Message,
  PreVoteRequest,
  PreVoteResponse,
  SnapshotRequest,
  VoteRequest,
  VoteResponse,
} from "./messages.js";
import { resolveCoreOptions, type CoreOptions, type ReadOnlyMode } from "./options.js";
import { ElectionPriority } from "./priority.js";
import type { ProgressState } from "./progress.js";
import type { RandomSource } from "./random.js";
import { RaftLog } from "./raft-log.js";
import type { ConfChangeResult, ReadState, Ready, Role, SoftState } from "./ready.js";
import { EntryType, hardStateEquals, type ConfState, type Entry, type HardState, type NodeId } from "./types.js";

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

type CampaignKind = "preVote" | "vote" | "transfer";

export class RaftCore {
  readonly id: NodeId;
  private readonly options: CoreOptions;
  private readonly random: RandomSource;
  private readonly log: RaftLog;
  private readonly configs: ConfigLog;

  #term: number;
  private vote: NodeId | null;
  #role: Role = "follower";
  #leaderId: NodeId | null = null;

  /** The core's own clock, in ticks; the lease is measured on it. */
  private tickCount = 0;
  /** A follower told by its leader that the group is idle: no elections until it hears otherwise (see wake). */
  private followerQuiesced = false;
  private confVersionCounter = 0;
  private electionElapsed = 0;
  private randomizedElectionTicks = 0;
  /** Ticks since a leader was last heard from (start-up counts as contact in lease mode). */
  private ticksSinceLeaderContact: number;

  private readonly votes = new Map<NodeId, boolean>();
  /** Reads sent to the leader and not yet answered: context -> tick at which to give up. */
  private readonly forwardedReads = new Map<string, number>();
  /** Present exactly while this node is the leader. */
  private leadership: Leadership | null = null;
  private readonly leaderHost: LeaderHost;
  private readonly priority: ElectionPriority;

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
    this.#term = hs.term;
    this.vote = hs.vote;
    this.persistedHardState = { term: hs.term, vote: hs.vote, commit: this.log.committed };
    this.configs = new ConfigLog(snapshot.index, new Configuration(snapshot.conf));
    this.loadConfigurationsFromLog();
    // In lease mode a restarted node waits an election timeout before it votes:
    // it may have acknowledged a leader's lease just before it stopped.
    this.ticksSinceLeaderContact = this.options.readOnly === "lease" ? 0 : this.options.electionTicks;
    this.priority = new ElectionPriority(this.options.priorityOf, this.options.priorityDecayGap);
    this.priority.reset(this.configs.current().allVoters());
    this.resetRandomizedElectionTicks();
    this.leaderHost = this.makeLeaderHost();
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.tickCount++;
    if (this.leadership) this.leadership.tick();
    else this.tickElection();
  }

  /** Cheap reads of what status() reports, for runtimes that ask often. */
  get role(): Role {
    return this.#role;
  }

  get leaderId(): NodeId | null {
    return this.#leaderId;
  }

  get currentTerm(): number {
    return this.#term;
  }

  get committed(): number {
    return this.log.committed;
  }

  /** Changes whenever the configuration in force does (appended, truncated, or from a snapshot). */
  get confVersion(): number {
    return this.confVersionCounter;
  }

  /** The configuration in force (possibly not yet committed). */
  members(): NodeId[] {
    return this.configs.current().members();
  }

  /** An idle group stopped its heartbeats and election timers (CoreOptions.quiesce). */
  get quiesced(): boolean {
    return this.leadership?.quiesced ?? this.followerQuiesced;
  }

  /**
   * The runtime saw a peer process go down or come back; it says so whether or
   * not this core is quiesced. A leader resumes heartbeats (and check-quorum)
   * and quiesces again only once a quorum answers after this; a quiesced
   * follower resumes its election timer, and when `leaderSuspected` (the
   * leader's process is down) campaigns within one election timeout rather than two.
   */
  wake(leaderSuspected: boolean): void {
    if (this.leadership) {
      this.leadership.wake(true);
      return;
    }
    if (!this.followerQuiesced) return;
    this.followerQuiesced = false;
    if (!leaderSuspected) {
      this.electionElapsed = 0;
      return;
    }
    // The watch already waited out half an election timeout: campaign within one more, at a
    // random tick, as spread as an ordinary election so that the woken followers rarely split
    // the vote (a split costs a whole randomized timeout more).
    this.electionElapsed = this.randomizedElectionTicks - 1 - this.random.nextInt(this.options.electionTicks);
  }

  step(m: Message): void {
    if (m.to !== this.id) throw new RaftError("EINVAL", `message for ${m.to} delivered to ${this.id}`);
    if (!Number.isSafeInteger(m.term) || m.term < 0) throw new RaftError("EINVAL", `message term ${m.term} is not a valid term`);
    // Anything but the answer to its own heartbeat means there is work: a quiesced leader wakes.
    if (m.type !== "heartbeatResp") this.leadership?.wake();
    if (this.followerQuiesced && (m.type === "preVote" || m.type === "vote") && m.from === this.#leaderId) {
      // Our leader campaigns: it restarted, or lost leadership, and its lease went with it.
      // (A restart quicker than the runtime's liveness check wakes nothing else.)
      this.followerQuiesced = false;
      this.ticksSinceLeaderContact = Math.max(this.ticksSinceLeaderContact, this.options.electionTicks);
    }
    if (m.term > this.#term) {
      if (!this.acceptHigherTerm(m)) return;
    } else if (m.term < this.#term) {
      this.answerStaleTerm(m);
      return;
    }
    switch (m.type) {
      case "preVote":
      case "vote":
        this.handleVoteRequest(m);
        return;
      case "readIndex":
        if (this.leadership) this.leadership.readIndex(m.context, m.from, this.options.readOnly === "lease");
        else this.send({ type: "readIndexResp", from: this.id, to: m.from, term: this.#term, context: m.context, index: -1, error: "ENOTLEADER" });
        return;
      case "readIndexResp":
        // Only answers to reads we forwarded and still wait for: a duplicate is dropped.
        if (this.forwardedReads.delete(m.context)) {
          this.readStates.push({ context: m.context, index: m.index, error: m.error });
        }
        return;
    }
    switch (this.#role) {
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
    return this.requireLeader().propose(data);
  }

  /**
   * Starts moving the membership to `target`. New voters first catch up; then
   * a configuration entry is appended (reported in Ready.confChangeResults).
   */
  proposeConfChange(target: ConfChangeTarget, requestId: string, mode: ConfChangeMode = "auto"): void {
    this.requireLeader().proposeConfChange(target, requestId, mode);
  }

  /**
   * Asks for a linearizable read point (thesis §6.4); the answer, or why there is
   * none, comes in Ready.readStates under the same context, which must be unique
   * among the reads in progress. `mode` picks, read by read, between a quorum
   * round ("safe") and the leader's lease ("lease", thesis §6.4.1), which only a
   * core with readOnly "lease" grants (its voters keep the lease's promises);
   * elsewhere a lease read is a safe one. A follower forwards reads as its
   * readOnly option says.
   */
  readIndex(context: string, mode: ReadOnlyMode = this.options.readOnly): void {
    if (this.leadership) {
      this.leadership.readIndex(context, null, mode === "lease" && this.options.readOnly === "lease");
      return;
    }
    if (this.#leaderId === null) throw new RaftError("ENOTLEADER", "no leader is known; retry after an election", null);
    if (this.forwardedReads.size >= this.options.maxPendingReads) {
      throw new RaftError("EBUSY", `${this.forwardedReads.size} reads wait for the leader's answer (limit ${this.options.maxPendingReads}); retry later`);
    }
    // Three election timeouts: check-quorum deposes a cut-off leader within two, and it then answers ESTEPPEDDOWN.
    this.forwardedReads.set(context, this.tickCount + 3 * this.options.electionTicks);
    this.send({ type: "readIndex", from: this.id, to: this.#leaderId, term: this.#term, context });
  }

  /**
   * Recovery when a majority is lost for good (SOFAJraft's resetPeers): this
   * node alone adopts `target`, without consensus. It spends a new term (votes
   * for itself in it), writes `target` to its log as a configuration entry of
   * that term, and then campaigns under it. UNSAFE: entries the lost majority
   * committed and this node lacks are gone, and if the "lost" nodes come back
   * as they were, two clusters may serve. Every survivor must be reset to the
   * same target.
   */
  forceConfiguration(target: ConfChangeTarget): void {
    const voters = [...new Set(target.voters)].sort();
    const learners = [...new Set(target.learners)].sort();
    if (voters.length === 0) throw new RaftError("EINVAL", "a forced configuration needs at least one voter");
    const both = learners.find((id) => voters.includes(id));
    if (both !== undefined) throw new RaftError("EINVAL", `${both} cannot be both a voter and a learner`);
    const term = this.#term + 1;
    this.becomeFollower(term, null);
    this.vote = this.id;
    const conf = { voters, outgoing: [], learners };
    this.appendToLog([{ index: this.log.lastIndex() + 1, term, type: EntryType.Config, data: encodeConfState(conf) }]);
    // Campaign at the next tick rather than after a full election timeout: the cluster is down already.
    this.electionElapsed = this.randomizedElectionTicks;
  }

  /** Hands leadership to `target` (or the most up-to-date voter when null), thesis §3.10. */
  transferLeadership(target: NodeId | null): void {
    this.requireLeader().transfer(target);
  }

  /** Starts an election now (thesis §3.4), honouring pre-vote. */
  campaign(): void {
    if (this.#role === "leader") return;
    this.startCampaign(this.options.preVote ? "preVote" : "vote");
  }

  /** The runtime tells the leader whether a snapshot reached `peer`. */
  reportSnapshot(peer: NodeId, ok: boolean): void {
    this.leadership?.reportSnapshot(peer, ok);
  }

  reportUnreachable(peer: NodeId): void {
    this.leadership?.reportUnreachable(peer);
  }

  /** On the leader: the peers waiting for a snapshot, with its index; empty elsewhere. */
  pendingSnapshots(): { peer: NodeId; index: number }[] {
    return this.leadership?.pendingSnapshots() ?? [];
  }

  // ---------------------------------------------------------------- output

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    this.leadership?.flush();
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
    this.leadership?.flush();
    const hardState = this.hardState();
    invariant(hardState.term >= this.persistedHardState.term, "terms never go back");
    invariant(hardState.commit >= this.persistedHardState.commit, "the commit index never decreases");
    const unstable = this.log.unstable();
    const committedEntries = this.log.nextCommittedEntries(this.options.maxUncommittedBytes);
    if (committedEntries.length > 0) this.log.applying = committedEntries[committedEntries.length - 1]!.index;
    const softState = this.softStateChanged() ? { role: this.#role, leaderId: this.#leaderId } : null;
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
    this.leadership?.flush();
    const out = this.msgs;
    this.msgs = [];
    return out;
  }

  advance(ready: Ready): void {
    invariant(this.outstanding === ready, "advance() must be given the outstanding Ready");
    this.outstanding = null;
    if (ready.hardState) this.persistedHardState = ready.hardState;
    if (ready.snapshot) this.log.stableSnapshotTo(ready.snapshot.index);
    if (ready.entries.length > 0) {
      const last = ready.entries[ready.entries.length - 1]!;
      this.log.stableTo(last.index, last.term);
    }
    if (ready.committedEntries.length > 0) this.log.applied = this.log.applying;
    this.configs.compactTo(this.log.storage.snapshotMeta().index);
    if (this.leadership) {
      this.leadership.maybeCommit(); // our own log grew durable
    } else if (this.#role === "candidate" && this.persistedHardState.term === this.#term && this.persistedHardState.vote === this.id) {
      // Our own vote counts only once it is durable, like any other vote.
      if (!this.votes.has(this.id)) this.recordVote(this.id, true);
    }
  }

  // ---------------------------------------------------------------- queries

  status(): CoreStatus {
    return {
      id: this.id,
      role: this.#role,
      term: this.#term,
      vote: this.vote,
      leaderId: this.#leaderId,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: this.configs.current().toState(),
      leadTransferee: this.leadership?.transferee ?? null,
      progress: this.leadership?.progressStatus() ?? null,
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
    this.#role = "follower";
    if (leaderId !== null) {
      this.foundLeader(leaderId);
      this.heardFromLeader();
    }
  }

  private becomePreCandidate(): void {
    invariant(this.#role !== "leader", "a leader never becomes a pre-candidate");
    // Pre-vote changes neither term nor vote (thesis §9.6).
    this.#role = "preCandidate";
    this.#leaderId = null;
    this.failForwardedReads();
    this.votes.clear();
    this.electionElapsed = 0;
    this.resetRandomizedElectionTicks();
  }

  private becomeCandidate(): void {
    invariant(this.#role !== "leader", "a leader never becomes a candidate");
    this.reset(this.#term + 1);
    this.#role = "candidate";
    this.vote = this.id;
  }

  private becomeLeader(): void {
    invariant(this.#role === "candidate", "only a candidate becomes leader");
    this.reset(this.#term);
    this.#role = "leader";
    this.#leaderId = this.id;
    this.leadership = new Leadership(this.leaderHost);
  }

  /** What every role change does: new term (when it changes), clear per-role state. */
  private reset(term: number): void {
    invariant(term >= this.#term, () => `term would go back from ${this.#term} to ${term}`);
    if (term !== this.#term) {
      this.#term = term;
      this.vote = null;
    }
    if (this.leadership) {
      const lost = this.leadership;
      this.leadership = null;
      lost.abandon();
    }
    this.#leaderId = null;
    this.failForwardedReads();
    this.electionElapsed = 0;
    this.followerQuiesced = false;
    this.resetRandomizedElectionTicks();
    this.votes.clear();
  }

  /** The leader we asked is gone: its answers may never come, so say so now. */
  private failForwardedReads(): void {
    for (const context of this.forwardedReads.keys()) this.readStates.push({ context, index: -1, error: "ESTEPPEDDOWN" });
    this.forwardedReads.clear();
  }

  /** A request or its answer may be lost on the way: give up in the end. */
  private expireForwardedReads(): void {
    for (const [context, deadline] of this.forwardedReads) {
      if (deadline > this.tickCount) return; // in insertion order, so the rest are younger
      this.forwardedReads.delete(context);
      this.readStates.push({ context, index: -1, error: "ETIMEDOUT" });
    }
  }

  private heardFromLeader(): void {
    this.ticksSinceLeaderContact = 0;
  }

  /** A leader is known again: elections by priority start over from the top. */
  private foundLeader(leader: NodeId): void {
    this.#leaderId = leader;
    this.priority.reset(this.configs.current().allVoters());
  }

  private resetRandomizedElectionTicks(): void {
    this.randomizedElectionTicks = this.options.electionTicks + this.random.nextInt(this.options.electionTicks);
  }

  /** The view of this core a Leadership works through. */
  private makeLeaderHost(): LeaderHost {
    const core = this;
    return {
      id: this.id,
      options: this.options,
      log: this.log,
      configs: this.configs,
      get term() {
        return core.#term;
      },
      get now() {
        return core.tickCount;
      },
      send: (m) => this.send(m),
      deliverReadState: (state) => this.readStates.push(state),
      deliverConfChangeResult: (result) => this.confChangeResults.push(result),
      appendToLog: (entries) => this.appendToLog(entries),
      stepDown: () => this.becomeFollower(this.#term, null),
    };
  }

  // ---------------------------------------------------------------- elections

  private tickElection(): void {
    this.expireForwardedReads();
    this.electionElapsed++;
    this.ticksSinceLeaderContact++;
    if (this.followerQuiesced) return;
    if (!this.promotable() || this.electionElapsed < this.randomizedElectionTicks) return;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTicks();
    if (!this.priority.allowsElection(this.id)) return;
    this.startCampaign(this.options.preVote ? "preVote" : "vote");
  }

  private promotable(): boolean {
    return this.configs.current().isVoter(this.id) && this.log.unstable().snapshot === null;
  }

  private startCampaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteTerm: number;
    if (kind === "preVote") {
      this.becomePreCandidate();
      voteTerm = this.#term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.#term;
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
      if (this.#role === "preCandidate") this.startCampaign("vote");
      else this.becomeLeader();
    } else if (outcome === "lost") {
      this.becomeFollower(this.#term, null);
    }
  }

  /** A node that heard from a live leader within an election timeout ignores (pre)votes (thesis §4.2.3). */
  private inLease(): boolean {
    if (!this.options.checkQuorum) return false;
    if (this.#role === "leader") return true;
    // Quiesced, we trust the leader until the runtime says its process is gone (wake).
    return this.followerQuiesced || this.ticksSinceLeaderContact < this.options.electionTicks;
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
    if (m.type === "append" || m.type === "heartbeat") {
      // A deposed leader may never hear of the new term otherwise: with pre-vote nobody disrupts
      // it, and a node that is no voter in its own configuration (a learner, or one that missed
      // being added back) never campaigns. Tell it, so it steps down (§5.1).
      this.send({ type: "appendResp", from: this.id, to: m.from, term: this.#term, reject: true, index: 0, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === "preVote") {
      this.send({ type: "preVoteResp", from: this.id, to: m.from, term: this.#term, reject: true });
    }
  }

  private handleVoteRequest(m: PreVoteRequest | VoteRequest): void {
    const isPreVote = m.type === "preVote";
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.#leaderId === null) ||
      (isPreVote && m.term > this.#term);
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
      if (isPreVote) {
        // Granted at the asked term, so the pre-candidate does not mistake it for a newer term.
        this.send({ type: "preVoteResp", from: this.id, to: m.from, term: m.term, reject: false });
      } else {
        this.electionElapsed = 0;
        this.vote = m.from;
        this.sendAfterPersist({ type: "voteResp", from: this.id, to: m.from, term: this.#term, reject: false });
      }
      return;
    }
    if (isPreVote) this.send({ type: "preVoteResp", from: this.id, to: m.from, term: this.#term, reject: true });
    else this.sendAfterPersist({ type: "voteResp", from: this.id, to: m.from, term: this.#term, reject: true });
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        // A leader of our term exists (§5.2): follow it.
        this.becomeFollower(this.#term, m.from);
        this.stepFollower(m);
        return;
      case "preVoteResp":
      case "voteResp":
        this.handleVoteResponse(m);
        return;
      default:
        return;
    }
  }

  private handleVoteResponse(m: PreVoteResponse | VoteResponse): void {
    const expected = this.#role === "preCandidate" ? "preVoteResp" : "voteResp";
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
      default:
        return;
    }
  }

  private followLeader(leader: NodeId): void {
    invariant(this.#leaderId === null || this.#leaderId === leader, () => `two leaders in term ${this.#term}: ${this.#leaderId} and ${leader}`);
    this.electionElapsed = 0;
    this.followerQuiesced = false;
    if (this.#leaderId === null) this.foundLeader(leader);
    this.heardFromLeader();
  }

  private handleAppend(m: AppendRequest): void {
    const reply = (fields: Pick<AppendResponse, "reject" | "index" | "hintIndex" | "hintTerm">): void =>
      this.sendAfterPersist({ type: "appendResp", from: this.id, to: m.from, term: this.#term, ...fields });
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
    // Only with the leader's whole log: a follower missing entries must keep its timer to get them.
    this.followerQuiesced = m.quiesce && this.log.lastIndex() === m.commit;
    this.send({ type: "heartbeatResp", from: this.id, to: m.from, term: this.#term, readSeq: m.readSeq, sentTick: m.sentTick });
  }

  private handleSnapshot(m: SnapshotRequest): void {
    const snapshot = m.snapshot;
    const reply = (index: number): void =>
      this.sendAfterPersist({ type: "appendResp", from: this.id, to: m.from, term: this.#term, reject: false, index, hintIndex: 0, hintTerm: 0 });
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
        this.leadership!.handleAppendResponse(m);
        return;
      case "heartbeatResp":
        this.leadership!.handleHeartbeatResponse(m);
        return;
      case "snapshotStatus":
        this.leadership!.handleSnapshotStatus(m);
        return;
      case "append":
      case "heartbeat":
      case "snapshot":
        invariant(false, () => `two leaders in term ${this.#term}: ${this.id} and ${m.from}`);
        return;
      default:
        return;
    }
  }

  /** Appends to our log; configuration entries take effect right away (thesis §4.1). */
  private appendToLog(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (this.#role === "leader") {
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
    this.confVersionCounter++;
    this.priority.reset(this.configs.current().allVoters());
    this.leadership?.onConfigurationChanged();
  }

  // ---------------------------------------------------------------- helpers

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private sendAfterPersist(m: Message): void {
    this.msgsAfterPersist.push(m);
  }

  private requireLeader(): Leadership {
    if (this.leadership === null) {
      throw new RaftError("ENOTLEADER", this.#leaderId ? `not the leader; the leader is ${this.#leaderId}` : "not the leader, and no leader is known; retry after an election", this.#leaderId);
    }
    return this.leadership;
  }

  private hardState(): HardState {
    return { term: this.#term, vote: this.vote, commit: this.log.committed };
  }

  private softStateChanged(): boolean {
    return this.lastSoftState.role !== this.#role || this.lastSoftState.leaderId !== this.#leaderId;
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
