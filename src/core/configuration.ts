/**
 * Membership: voters, the outgoing voters of a joint configuration, and
 * learners (non-voting members that receive the log). A configuration is
 * stored whole in the log, so a follower learns it without replaying deltas.
 */
import { RaftError } from "../errors.js";
import { invariant } from "./assert.js";
import { jointValue, jointVote, type VoteOutcome } from "./quorum.js";
import type { ConfState, NodeId } from "./types.js";

export class Configuration {
  readonly voters: ReadonlySet<NodeId>;
  /** Non-empty only while joint: the voters of the configuration being left. */
  readonly outgoing: ReadonlySet<NodeId>;
  /** Never voters of the incoming configuration; may still be outgoing voters (a demotion in progress). */
  readonly learners: ReadonlySet<NodeId>;

  constructor(state: ConfState) {
    this.voters = new Set(state.voters);
    this.outgoing = new Set(state.outgoing);
    this.learners = new Set(state.learners);
    for (const id of this.learners) {
      invariant(!this.voters.has(id), () => `${id} is both a voter and a learner`);
    }
  }

  isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  /** A voter of either half: takes part in elections and commitment. */
  isVoter(id: NodeId): boolean {
    return this.voters.has(id) || this.outgoing.has(id);
  }

  isMember(id: NodeId): boolean {
    return this.isVoter(id) || this.learners.has(id);
  }

  /** Everyone the leader replicates to. */
  members(): NodeId[] {
    return [...new Set([...this.voters, ...this.outgoing, ...this.learners])].sort();
  }

  allVoters(): NodeId[] {
    return [...new Set([...this.voters, ...this.outgoing])].sort();
  }

  quorumValue(valueOf: (id: NodeId) => number): number {
    return jointValue(this.voters, this.outgoing, valueOf);
  }

  vote(granted: (id: NodeId) => boolean | undefined): VoteOutcome {
    return jointVote(this.voters, this.outgoing, granted);
  }

  toState(): ConfState {
    return {
      voters: [...this.voters].sort(),
      outgoing: [...this.outgoing].sort(),
      learners: [...this.learners].sort(),
    };
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfState(state: ConfState): Uint8Array {
  return encoder.encode(JSON.stringify({ v: state.voters, o: state.outgoing, l: state.learners }));
}

export function decodeConfState(bytes: Uint8Array): ConfState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new RaftError("ECORRUPT", "a configuration entry is not valid JSON; the log is damaged");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RaftError("ECORRUPT", "a configuration entry is not a JSON object of member lists; the log is damaged");
  }
  const p = parsed as { v?: unknown; o?: unknown; l?: unknown };
  const ids = (x: unknown): NodeId[] => {
    if (!Array.isArray(x) || !x.every((id) => typeof id === "string")) {
      throw new RaftError("ECORRUPT", "a configuration entry has a malformed member list; the log is damaged");
    }
    return x as NodeId[];
  };
  return { voters: ids(p.v), outgoing: ids(p.o), learners: ids(p.l) };
}

export interface ConfChangeTarget {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** How to reach a target: one step when at most one voter changes, else through a joint configuration. */
export type ConfChangeMode = "auto" | "joint";

/**
 * The next configuration on the way from `current` to `target`. A single voter
 * added or removed is safe in one step (thesis §4.1); anything larger enters a
 * joint configuration first (thesis §4.3), which the leader leaves by itself.
 */
export function nextConfiguration(current: Configuration, target: ConfChangeTarget, mode: ConfChangeMode): Configuration {
  if (current.isJoint()) {
    throw new RaftError("EBUSY", "a joint configuration change is still in progress; retry once it completes");
  }
  const voters = new Set(target.voters);
  const learners = new Set(target.learners);
  if (voters.size === 0) throw new RaftError("EINVAL", "a configuration needs at least one voter");
  for (const id of learners) {
    if (voters.has(id)) throw new RaftError("EINVAL", `${id} cannot be both a voter and a learner`);
  }
  for (const id of [...voters, ...learners]) {
    if (typeof id !== "string" || id.length === 0) throw new RaftError("EINVAL", "peer ids must be non-empty strings");
  }
  let changedVoters = 0;
  for (const id of voters) if (!current.voters.has(id)) changedVoters++;
  for (const id of current.voters) if (!voters.has(id)) changedVoters++;
  if (mode === "auto" && changedVoters <= 1) {
    return new Configuration({ voters: [...voters], outgoing: [], learners: [...learners] });
  }
  return new Configuration({ voters: [...voters], outgoing: [...current.voters], learners: [...learners] });
}

/** The configuration that ends a joint one: the incoming half alone. */
export function leaveJoint(current: Configuration): Configuration {
  invariant(current.isJoint(), "leaveJoint on a configuration that is not joint");
  return new Configuration({ voters: [...current.voters], outgoing: [], learners: [...current.learners] });
}
