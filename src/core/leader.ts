/**
 * Everything only a leader has: the progress of each follower, replication
 * and its flow control, the commit rule, ReadIndex rounds and the lease,
 * membership changes with catch-up, and leadership transfer. A Leadership
 * lives exactly as long as one term's leadership: losing it drops it whole.
 */
import { RaftError, type RaftErrorCode } from "../errors.js";
import type { ConfigLog } from "./config-log.js";
import { encodeConfState, leaveJoint, nextConfiguration, type ConfChangeMode, type ConfChangeTarget, type Configuration } from "./configuration.js";
import type { AppendResponse, HeartbeatResponse, Message, SnapshotStatusReport } from "./messages.js";
import type { CoreOptions } from "./options.js";
import { Progress, type ProgressState } from "./progress.js";
import type { RaftLog } from "./raft-log.js";
import { ReadIndexQueue } from "./read-index.js";
import type { ConfChangeResult, ReadState } from "./ready.js";
import { ENTRY_OVERHEAD_BYTES, entryBytes, EntryType, type Entry, type NodeId } from "./types.js";

/** What a Leadership needs from the core that owns it. */
export interface LeaderHost {
  readonly id: NodeId;
  readonly options: CoreOptions;
  readonly log: RaftLog;
  readonly configs: ConfigLog;
  readonly term: number;
  /** The core's clock, in ticks. */
  readonly now: number;
  send(m: Message): void;
  deliverReadState(state: ReadState): void;
  deliverConfChangeResult(result: ConfChangeResult): void;
  /** Appends through the core, so configuration entries take effect. */
  appendToLog(entries: readonly Entry[]): void;
  /** Leadership is over (this object is dropped). */
  stepDown(): void;
}

/** A membership change waiting for its new voters to catch up (thesis §4.2.1). */
interface Catchup {
  readonly requestId: string;
  readonly target: Configuration;
  readonly nodes: readonly NodeId[];
  matchSum: number;
  ticksWithoutProgress: number;
}

export class Leadership {
  /** Every other member, and peers catching up to join. */
  private readonly progress = new Map<NodeId, Progress>();
  private readonly reads = new ReadIndexQueue();
  transferee: NodeId | null = null;
  /** Set once TimeoutNow was sent: no more lease reads in this term. */
  private leaseRevoked = false;
  /** Index of the latest configuration entry appended; a new change waits for its commit. */
  private pendingConfIndex: number;
  private catchup: Catchup | null = null;
  /** Proposals not yet committed, oldest first, for the EBUSY bound. */
  private uncommitted: { index: number; bytes: number }[] = [];
  private uncommittedBytes = 0;
  private heartbeatElapsed = 0;
  private electionElapsed = 0;
  private active = true;
  /** Idle with every follower up to date: no heartbeats, no check-quorum, until wake(). */
  private quiescedFlag = false;
  /** When we last woke (or began leading): only followers heard from since count towards quiescing again. */
  private wokeAtTick: number;

  constructor(private readonly host: LeaderHost) {
    this.wokeAtTick = host.now;
    for (const id of host.configs.current().members()) {
      if (id !== host.id) this.progress.set(id, this.newProgress());
    }
    // No membership change until an entry of this term commits (thesis §4.1, the single-server bug fix).
    this.pendingConfIndex = host.log.lastIndex();
    this.countInheritedUncommitted();
    // A no-op entry commits this term and with it every earlier entry (§5.4.2, §8).
    this.appendEntry(EntryType.Noop, new Uint8Array(0));
  }

  /** Entries earlier leaders left uncommitted count against the bound too, or each election would add a full allowance. */
  private countInheritedUncommitted(): void {
    const log = this.host.log;
    const last = log.lastIndex();
    let bytes = 0;
    for (let index = log.committed + 1; index <= last; ) {
      const batch = log.entries(index, last + 1, this.host.options.maxBytesPerAppend);
      for (const entry of batch) bytes += entryBytes(entry);
      index += batch.length;
    }
    if (bytes > 0) {
      this.uncommitted.push({ index: last, bytes });
      this.uncommittedBytes = bytes;
    }
  }

  // ---------------------------------------------------------------- requests

  propose(data: Uint8Array): { index: number; term: number } {
    this.wake();
    if (this.transferee !== null) {
      throw new RaftError("EBUSY", `leadership is being transferred to ${this.transferee}; retry on the new leader`);
    }
    const bytes = data.byteLength + ENTRY_OVERHEAD_BYTES;
    const limit = this.host.options.maxUncommittedBytes;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > limit) {
      throw new RaftError("EBUSY", `${this.uncommittedBytes} bytes of proposals are not yet committed (limit ${limit}); slow down and retry`);
    }
    const entry = this.appendEntry(EntryType.Normal, data);
    this.uncommitted.push({ index: entry.index, bytes });
    this.uncommittedBytes += bytes;
    return { index: entry.index, term: entry.term };
  }

  /** New voters first catch up; then a configuration entry is appended (thesis §4.2.1). */
  proposeConfChange(target: ConfChangeTarget, requestId: string, mode: ConfChangeMode): void {
    this.wake();
    if (this.transferee !== null) throw new RaftError("EBUSY", "a leadership transfer is in progress; retry after it");
    this.requireCommittedInTerm();
    this.requireNoConfChange("another membership change is in progress; retry once it completes");
    const current = this.host.configs.current();
    const next = nextConfiguration(current, target, mode);
    const lagging = next.allVoters().filter((id) => id !== this.host.id && !current.isVoter(id) && !this.isCaughtUp(id));
    if (lagging.length === 0) {
      this.appendConfiguration(next, requestId);
      return;
    }
    for (const id of lagging) {
      if (!this.progress.has(id)) this.progress.set(id, this.newProgress());
    }
    this.catchup = { requestId, target: next, nodes: lagging, matchSum: this.catchupMatchSum(lagging), ticksWithoutProgress: 0 };
  }

  /** Hands leadership to `target`, or to the most up-to-date voter when null (thesis §3.10). */
  transfer(target: NodeId | null): void {
    this.wake();
    this.requireNoConfChange("a membership change is in progress; transfer leadership after it completes");
    const chosen = target ?? this.mostUpToDateVoter();
    if (chosen === null) throw new RaftError("EINVAL", "there is no other voter to transfer leadership to");
    if (chosen === this.host.id) return;
    if (!this.host.configs.current().voters.has(chosen)) throw new RaftError("EINVAL", `${chosen} is not a voter of the current configuration`);
    if (this.host.options.priorityOf(chosen) === 0) throw new RaftError("EPERM", `${chosen} has priority 0 and may never lead`);
    this.transferee = chosen;
    this.electionElapsed = 0; // the transfer gives up after one election timeout
    const pr = this.progress.get(chosen)!;
    if (pr.match === this.host.log.lastIndex()) this.sendTimeoutNow(chosen);
    else this.sendAppend(chosen, pr, true); // bring it up to date; TimeoutNow follows its answer
  }

  /** ReadIndex (thesis §6.4), for a local read (`from` null) or a follower's; `lease` may answer within the lease (§6.4.1). */
  readIndex(context: string, from: NodeId | null, lease: boolean): void {
    this.wake();
    const refuse = (code: RaftErrorCode, message: string): void => {
      if (from === null) throw new RaftError(code, message);
      this.answerRead(context, -1, code, from);
    };
    const log = this.host.log;
    if (log.term(log.committed) !== this.host.term) {
      refuse("EAGAIN", "the new leader has not yet committed an entry of its term; retry shortly");
      return;
    }
    const conf = this.host.configs.current();
    if (conf.quorumValue((id) => (id === this.host.id ? 1 : 0)) === 1) {
      this.answerRead(context, log.committed, null, from); // we alone are a quorum
      return;
    }
    if (lease && !this.leaseRevoked && this.leaseValid()) {
      this.answerRead(context, log.committed, null, from);
      return;
    }
    if (this.reads.size >= this.host.options.maxPendingReads) {
      refuse("EBUSY", `${this.reads.size} reads are waiting for confirmation (limit ${this.host.options.maxPendingReads}); retry later`);
      return;
    }
    this.reads.add(context, log.committed, from);
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    const pr = this.progress.get(peer);
    if (pr?.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true; // wait for a heartbeat answer before probing again
  }

  /** Only a report on the snapshot the peer waits for counts: an older one is about a snapshot already given up. */
  handleSnapshotStatus(m: SnapshotStatusReport): void {
    const pr = this.progress.get(m.from);
    if (pr?.state !== "snapshot" || pr.pendingSnapshot !== m.index) return;
    pr.recentActive = true;
    this.reportSnapshot(m.from, !m.reject);
  }

  pendingSnapshots(): { peer: NodeId; index: number }[] {
    const out: { peer: NodeId; index: number }[] = [];
    for (const [peer, pr] of this.progress) if (pr.state === "snapshot") out.push({ peer, index: pr.pendingSnapshot });
    return out;
  }

  reportUnreachable(peer: NodeId): void {
    const pr = this.progress.get(peer);
    if (pr?.state === "replicate") pr.becomeProbe();
  }

  // ---------------------------------------------------------------- time

  tick(): void {
    if (this.quiescedFlag) return;
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.tickCatchup();
    if (this.electionElapsed >= this.host.options.electionTicks) {
      this.electionElapsed = 0;
      if (this.host.options.checkQuorum && !this.quorumActive()) {
        // Check-quorum (thesis §6.2): a leader cut off from a majority steps down.
        this.host.stepDown();
        return;
      }
      this.transferee = null; // a transfer not done within an election timeout is abandoned
    }
    if (this.heartbeatElapsed >= this.host.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.quiescedFlag = this.host.options.quiesce && this.idleAndUpToDate();
      this.broadcastHeartbeat(this.quiescedFlag);
    }
  }

  get quiesced(): boolean {
    return this.quiescedFlag;
  }

  /**
   * Back to heartbeats (and check-quorum) at once: there is work, or (with
   * `peerEvent`) a peer process came or went. A peer event counts even while
   * awake: whoever was heard from before it must be heard from again before
   * the group quiesces, or a peer that died just before would still count.
   */
  wake(peerEvent = false): void {
    // After a peer event, only answers from the next tick on count: one in this tick may have left before it.
    if (peerEvent) this.wokeAtTick = this.host.now + 1;
    if (!this.quiescedFlag) return;
    this.quiescedFlag = false;
    if (!peerEvent) this.wokeAtTick = this.host.now;
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    this.broadcastHeartbeat(false);
  }

  /**
   * Nothing to replicate, confirm or change, a quorum heard from since we last
   * woke (and within an election timeout), and every follower holds the whole
   * log, except those silent (a follower that comes back campaigns, which
   * wakes us; a learner's runtime sees its process return and wakes us). A
   * leader woken because its peers died thus stays awake, and check-quorum
   * deposes it.
   */
  private idleAndUpToDate(): boolean {
    const log = this.host.log;
    const last = log.lastIndex();
    if (this.transferee !== null || this.catchup !== null || this.reads.size > 0) return false;
    if (log.committed !== last || log.stableIndex() !== last || log.term(last) !== this.host.term) return false;
    if (this.pendingConfIndex > last || this.host.configs.current().isJoint()) return false;
    const heardRecently = (pr: Progress): boolean => pr.lastHeardTick >= this.wokeAtTick && this.host.now - pr.lastHeardTick < this.host.options.electionTicks;
    for (const pr of this.progress.values()) {
      if (heardRecently(pr) && (pr.match !== last || pr.state === "snapshot")) return false;
    }
    // A leader cut off from a quorum stays awake, so that check-quorum deposes it.
    const reachable = (id: NodeId): boolean => {
      const pr = this.progress.get(id);
      return id === this.host.id || (pr !== undefined && heardRecently(pr));
    };
    return this.host.configs.current().vote(reachable) === "won";
  }

  private quorumActive(): boolean {
    const active = this.host.configs.current().vote((id) => id === this.host.id || this.progress.get(id)?.recentActive === true);
    for (const pr of this.progress.values()) pr.recentActive = false;
    return active === "won";
  }

  // ---------------------------------------------------------------- answers

  handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.lastHeardTick = this.host.now;
    if (m.reject) {
      const matchHint = m.hintTerm > 0 ? this.host.log.findConflictByTerm(m.hintIndex, m.hintTerm).index : m.hintIndex;
      if (pr.maybeDecreaseTo(m.index, matchHint) && pr.state === "replicate") pr.becomeProbe();
      return;
    }
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === "probe")) return;
    if (pr.state === "probe") {
      // On a network that reorders, answers to the appends of an earlier window keep coming after a
      // rejection put the follower back in probe, and each would open a new window at once, whose
      // answers open more: a storm. One switch to pipelining per tick bounds it; until the next tick the
      // follower is probed, one append per answer.
      if (pr.replicateSinceTick !== this.host.now) pr.becomeReplicate(this.host.now);
    } else if (pr.state === "snapshot" && pr.match + 1 >= this.host.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate(this.host.now);
    } else if (pr.state === "replicate") {
      pr.inflights.freeUpTo(m.index);
    }
    this.maybeCommit();
    if (!this.active) return;
    this.checkCatchup();
    if (m.from === this.transferee && pr.match === this.host.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.lastHeardTick = this.host.now;
    pr.probeSent = false;
    if (pr.match < this.host.log.lastIndex()) {
      // The follower is behind and may have lost appends: an append (empty if need be)
      // either carries what is missing or draws a rejection that resets the window.
      if (pr.state === "replicate" && pr.windowFull(this.host.options.maxInflightAppends, this.host.options.maxInflightBytes)) {
        pr.inflights.freeFirst();
      }
      this.sendAppend(m.from, pr, true);
    }
    pr.ackedReadSeq = Math.max(pr.ackedReadSeq, m.readSeq);
    pr.ackedSentTick = Math.max(pr.ackedSentTick, m.sentTick);
    const confirmed = this.host.configs.current().quorumValue((id) => (id === this.host.id ? Number.MAX_SAFE_INTEGER : (this.progress.get(id)?.ackedReadSeq ?? 0)));
    for (const read of this.reads.release(confirmed)) this.answerRead(read.context, read.index, null, read.from);
  }

  /**
   * The lease: no other leader can exist until electionTicks after the newest
   * heartbeat a quorum acknowledged was sent, since those voters ignore
   * elections that long; leaseRatioPct leaves a margin for clock drift.
   */
  private leaseValid(): boolean {
    const now = this.host.now;
    const sentTick = this.host.configs.current().quorumValue((id) => (id === this.host.id ? now : (this.progress.get(id)?.ackedSentTick ?? Number.MIN_SAFE_INTEGER)));
    const leaseTicks = Math.floor((this.host.options.electionTicks * this.host.options.leaseRatioPct) / 100);
    return now < sentTick + leaseTicks;
  }

  private answerRead(context: string, index: number, error: RaftErrorCode | null, to: NodeId | null): void {
    if (to === null || to === this.host.id) this.host.deliverReadState({ context, index, error });
    else {
      this.host.send({ type: "readIndexResp", from: this.host.id, to, term: this.host.term, context, index, error });
      const pr = this.progress.get(to);
      if (pr !== undefined && error === null) pr.commitWanted = Math.max(pr.commitWanted, index); // the follower applies up to index before it reads
    }
  }

  // ---------------------------------------------------------------- commitment

  /** Commits what a quorum holds; the leader's own log counts once durable. */
  maybeCommit(): void {
    const log = this.host.log;
    const quorumIndex = this.host.configs.current().quorumValue((id) => (id === this.host.id ? log.stableIndex() : (this.progress.get(id)?.match ?? 0)));
    // Only an entry of the current term commits by counting replicas (§5.4.2, Figure 8).
    if (quorumIndex <= log.committed || log.term(quorumIndex) !== this.host.term) return;
    log.commitTo(quorumIndex);
    this.onCommitAdvanced();
  }

  private onCommitAdvanced(): void {
    const committed = this.host.log.committed;
    let done = 0;
    while (done < this.uncommitted.length && this.uncommitted[done]!.index <= committed) {
      this.uncommittedBytes -= this.uncommitted[done]!.bytes;
      done++;
    }
    if (done > 0) this.uncommitted.splice(0, done);
    const configs = this.host.configs;
    const conf = configs.current();
    if (configs.currentIndex() > committed) return;
    if (conf.isJoint()) {
      // The joint configuration is committed: move on to the new one by ourselves (thesis §4.3).
      this.appendConfiguration(leaveJoint(conf), null);
    } else if (!conf.isVoter(this.host.id)) {
      // Removed, and the configuration without us is committed: step down (thesis §4.2.2),
      // handing over to the most up-to-date voter so the cluster does not wait for a timeout.
      // It needs every committed entry, not our whole log: under load the newest entry is
      // rarely acknowledged yet, and the voters' log check still guards the election.
      const successor = this.mostUpToDateVoter();
      if (successor !== null && this.progress.get(successor)!.match >= committed) this.sendTimeoutNow(successor);
      this.host.stepDown();
    }
  }

  private appendEntry(type: EntryType, data: Uint8Array): Entry {
    const entry: Entry = { index: this.host.log.lastIndex() + 1, term: this.host.term, type, data };
    this.host.appendToLog([entry]);
    return entry;
  }

  private appendConfiguration(conf: Configuration, requestId: string | null): void {
    const entry = this.appendEntry(EntryType.Config, encodeConfState(conf.toState()));
    this.pendingConfIndex = entry.index;
    if (requestId !== null) this.host.deliverConfChangeResult({ requestId, index: entry.index, error: null, message: null });
  }

  /** The membership changed in our log: track exactly its members and the peers catching up. */
  onConfigurationChanged(): void {
    const conf = this.host.configs.current();
    const keep = new Set([...conf.members(), ...(this.catchup?.nodes ?? [])]);
    for (const id of keep) {
      if (id !== this.host.id && !this.progress.has(id)) this.progress.set(id, this.newProgress());
    }
    for (const id of [...this.progress.keys()]) if (!keep.has(id)) this.progress.delete(id);
    if (this.transferee !== null && !conf.voters.has(this.transferee)) this.transferee = null;
  }

  private newProgress(): Progress {
    const pr = new Progress(this.host.log.lastIndex() + 1);
    pr.recentActive = true; // a new peer gets one election timeout before counting as dead
    pr.lastHeardTick = this.host.now;
    return pr;
  }

  /** Leadership is lost: fail what waits on it, so callers hear at once. */
  abandon(): void {
    this.active = false;
    for (const read of this.reads.drain()) this.answerRead(read.context, -1, "ESTEPPEDDOWN", read.from);
    if (this.catchup !== null) this.finishCatchup("ESTEPPEDDOWN", "leadership was lost while new peers were catching up");
  }

  // ---------------------------------------------------------------- catch-up

  private isCaughtUp(id: NodeId): boolean {
    const pr = this.progress.get(id);
    // A peer that never acknowledged an entry is not caught up, however short the log.
    return pr !== undefined && pr.match > 0 && pr.match + this.host.options.catchupMargin >= this.host.log.lastIndex();
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
    if (++catchup.ticksWithoutProgress >= 2 * this.host.options.electionTicks) {
      const stalled = catchup.nodes.filter((id) => !this.isCaughtUp(id)).join(", ");
      this.finishCatchup("ECATCHUP", `${stalled} did not catch up with the leader's log; check that the peer is running and reachable`);
    }
  }

  private finishCatchup(code: RaftErrorCode, message: string): void {
    const catchup = this.catchup!;
    this.catchup = null;
    this.host.deliverConfChangeResult({ requestId: catchup.requestId, index: -1, error: code, message });
    if (this.active) this.onConfigurationChanged(); // drop the progress of peers that did not join
  }

  // ---------------------------------------------------------------- sending

  /**
   * Work deferred so that many inputs share one round of messages: appends, probes, commit news,
   * read rounds. A follower in probe gets an append even without entries: the leader must learn
   * where its log ends. Without immediateCommitNews, news of a commit alone waits for the next
   * append or heartbeat, unless a follower's read waits on it.
   */
  flush(): void {
    if (this.reads.needsBroadcast()) this.broadcastHeartbeat(false);
    const committed = this.host.log.committed;
    const immediate = this.host.options.immediateCommitNews;
    for (const [id, pr] of this.progress) {
      while (this.sendAppend(id, pr, false)) {
        // as much as the in-flight window allows
      }
      const commitNews = pr.sentCommit < (immediate ? committed : Math.min(pr.commitWanted, committed));
      if (commitNews || pr.state === "probe") this.sendAppend(id, pr, true);
    }
  }

  /** Sends the next append to `to`; returns true when it carried entries. */
  private sendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    const { log, options } = this.host;
    if (pr.isPaused(options.maxInflightAppends, options.maxInflightBytes)) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    if (prevTerm === undefined) {
      this.sendSnapshot(to, pr);
      return false;
    }
    const lastIndex = log.lastIndex();
    let entries: Entry[] = [];
    if (pr.next <= lastIndex) {
      const room = Math.max(1, Math.min(options.maxBytesPerAppend, options.maxInflightBytes - pr.inflights.bytes));
      entries = log.entries(pr.next, Math.min(lastIndex + 1, pr.next + options.maxEntriesPerAppend), room);
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const commit = log.committed;
    this.host.send({ type: "append", from: this.host.id, to, term: this.host.term, prevIndex, prevTerm, entries, commit });
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    pr.sentEntries(prevIndex + entries.length, bytes, entries.length);
    pr.sentCommit = commit;
    return entries.length > 0;
  }

  /** The follower's next entry is compacted away: it needs the snapshot (§7). */
  private sendSnapshot(to: NodeId, pr: Progress): void {
    if (!pr.recentActive) return; // do not ship a snapshot to a peer that looks dead
    const snapshot = this.host.log.snapshotMeta();
    pr.becomeSnapshot(snapshot.index);
    this.host.send({ type: "snapshot", from: this.host.id, to, term: this.host.term, snapshot });
  }

  private broadcastHeartbeat(quiesce: boolean): void {
    const readSeq = this.reads.latestSeq();
    this.reads.markBroadcast(readSeq);
    for (const [id, pr] of this.progress) {
      // Never more than the follower's match: its log may not reach our commit yet.
      const commit = Math.min(pr.match, this.host.log.committed);
      this.host.send({ type: "heartbeat", from: this.host.id, to: id, term: this.host.term, commit, readSeq, sentTick: this.host.now, quiesce });
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    // The target may win at any time from now on, even after we abandon the transfer,
    // and its forced election ignores the voters' leases: ours is void for this term.
    this.leaseRevoked = true;
    this.host.send({ type: "timeoutNow", from: this.host.id, to, term: this.host.term });
  }

  // ---------------------------------------------------------------- helpers

  private requireCommittedInTerm(): void {
    const log = this.host.log;
    if (log.term(log.committed) !== this.host.term) {
      throw new RaftError("EAGAIN", "the new leader has not yet committed an entry of its term; retry shortly");
    }
  }

  private requireNoConfChange(message: string): void {
    if (this.catchup !== null || this.pendingConfIndex > this.host.log.committed || this.host.configs.current().isJoint()) {
      throw new RaftError("EBUSY", message);
    }
  }

  private mostUpToDateVoter(): NodeId | null {
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const id of this.host.configs.current().voters) {
      if (id === this.host.id || this.host.options.priorityOf(id) === 0) continue;
      const match = this.progress.get(id)?.match ?? -1;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    return best;
  }

  progressStatus(): Record<NodeId, { match: number; next: number; state: ProgressState }> {
    const log = this.host.log;
    const out: Record<NodeId, { match: number; next: number; state: ProgressState }> = {};
    out[this.host.id] = { match: log.stableIndex(), next: log.lastIndex() + 1, state: "replicate" };
    for (const [id, pr] of this.progress) out[id] = { match: pr.match, next: pr.next, state: pr.state };
    return out;
  }
}
