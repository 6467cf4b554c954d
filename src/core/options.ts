/** Options of the Raft core, in ticks (the caller decides how long a tick is). */
import { RaftError } from "../errors.js";
import type { NodeId } from "./types.js";

export type ReadOnlyMode = "safe" | "lease";

export interface CoreOptions {
  /** Ticks without hearing from a leader before an election; randomized in [electionTicks, 2*electionTicks). */
  electionTicks: number;
  /** Ticks between a leader's heartbeats; must be below electionTicks. */
  heartbeatTicks: number;
  /** Pre-vote (thesis §9.6): a node asks whether it could win before it bumps its term. */
  preVote: boolean;
  /** A leader that has not heard from a quorum within electionTicks steps down; followers that hear from a live leader ignore votes. */
  checkQuorum: boolean;
  /** "safe": every read is confirmed by a quorum round (ReadIndex). "lease": the leader answers within its lease. */
  readOnly: ReadOnlyMode;
  /** The lease lasts this percentage of electionTicks after a quorum acknowledged a heartbeat. */
  leaseRatioPct: number;
  maxEntriesPerAppend: number;
  maxBytesPerAppend: number;
  /** Appends in flight to one follower before the leader waits for answers. */
  maxInflightAppends: number;
  maxInflightBytes: number;
  /** Bytes of proposed but uncommitted entries a leader accepts before answering EBUSY. */
  maxUncommittedBytes: number;
  /** Read requests waiting for confirmation before readIndex answers EBUSY. */
  maxPendingReads: number;
  /** A new voter joins only once its log is within this many entries of the leader's. */
  catchupMargin: number;
  /** SOFAJraft's election priority of a peer: -1 disabled, 0 never leader, higher wins first. */
  priorityOf: (id: NodeId) => number;
  /** How far the target priority drops after a timeout without a leader (at least this, or a fifth). */
  priorityDecayGap: number;
  /**
   * An idle leader whose followers are all up to date stops heartbeating, and its followers stop
   * their election timers, until something happens (see RaftCore.wake). Only for runtimes that
   * watch the liveness of peer processes and call wake() when it changes: a quiesced follower
   * would otherwise never notice that its leader died.
   */
  quiesce: boolean;
  /**
   * A leader tells followers of each commit at once, with an empty append if no entries go (true),
   * or lets the news ride on the next append or heartbeat, within heartbeatTicks (false). False
   * halves the frames of a lone write; a follower then applies up to a heartbeat later, except
   * for its own reads, whose commit index the leader always sends at once.
   */
  immediateCommitNews: boolean;
}

export const DEFAULT_CORE_OPTIONS: CoreOptions = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  readOnly: "safe",
  leaseRatioPct: 90,
  maxEntriesPerAppend: 1024,
  maxBytesPerAppend: 512 * 1024,
  maxInflightAppends: 256,
  maxInflightBytes: 32 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxPendingReads: 10_000,
  catchupMargin: 1000,
  priorityOf: () => -1,
  priorityDecayGap: 10,
  quiesce: false,
  immediateCommitNews: true,
};

/** Fills defaults and refuses combinations that would be unsafe or meaningless. */
export function resolveCoreOptions(partial: Partial<CoreOptions> = {}): CoreOptions {
  const options: CoreOptions = { ...DEFAULT_CORE_OPTIONS, ...partial };
  const positive: (keyof CoreOptions)[] = [
    "electionTicks",
    "heartbeatTicks",
    "maxEntriesPerAppend",
    "maxBytesPerAppend",
    "maxInflightAppends",
    "maxInflightBytes",
    "maxUncommittedBytes",
    "maxPendingReads",
    "priorityDecayGap",
  ];
  for (const key of positive) {
    const value = options[key];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
      throw new RaftError("EINVAL", `option ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  if (!Number.isSafeInteger(options.catchupMargin) || options.catchupMargin < 0) {
    throw new RaftError("EINVAL", `option catchupMargin must be a non-negative integer, got ${options.catchupMargin}`);
  }
  if (options.heartbeatTicks >= options.electionTicks) {
    throw new RaftError(
      "EINVAL",
      `heartbeatTicks (${options.heartbeatTicks}) must be below electionTicks (${options.electionTicks}); a tenth is usual`,
    );
  }
  if (typeof options.immediateCommitNews !== "boolean") {
    throw new RaftError("EINVAL", `option immediateCommitNews must be true or false, got ${String(options.immediateCommitNews)}`);
  }
  if (options.readOnly !== "safe" && options.readOnly !== "lease") {
    throw new RaftError("EINVAL", `option readOnly must be "safe" or "lease", got ${String(options.readOnly)}`);
  }
  if (options.readOnly === "lease" && !options.checkQuorum) {
    throw new RaftError(
      "EINVAL",
      'readOnly "lease" needs checkQuorum: without it a deposed leader could serve stale reads; turn checkQuorum on or use readOnly "safe"',
    );
  }
  if (!(options.leaseRatioPct > 0 && options.leaseRatioPct < 100)) {
    throw new RaftError("EINVAL", `option leaseRatioPct must be in (0, 100), got ${options.leaseRatioPct}`);
  }
  return options;
}
