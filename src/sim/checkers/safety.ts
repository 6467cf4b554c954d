/**
 * Raft's safety properties (§5.2–§5.4, Figure 3), checked incrementally as
 * events happen: each hook does O(1) work per entry (or per term for leader
 * completeness), never a scan of whole logs.
 */
import type { Entry, HardState, NodeId } from "../../core/types.js";
import type { StateSnapshot } from "../state-machine.js";
import { Violation } from "./violation.js";

/** Keys (index, term) pairs into one number; terms stay far below this span in a run. */
const TERM_SPAN = 1_000_000;

interface EntryRecord {
  readonly prevTerm: number;
  readonly digest: number;
  readonly nodeId: NodeId;
}

interface AppliedRecord {
  readonly term: number;
  readonly digest: number;
  readonly stateHash: number;
  readonly nodeId: NodeId;
}

/** What leader completeness needs from the new leader's log. */
export interface LeaderLogView {
  /** Term of the entry at `index` in the node's log (stable and unstable), undefined when absent or compacted. */
  term(index: number): number | undefined;
  /** Entries at or below this index are covered by the node's snapshot. */
  readonly snapshotIndex: number;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly entryAt = new Map<number, EntryRecord>();
  private readonly appliedAt = new Map<number, AppliedRecord>();
  /** "voter@term" -> the candidate that voter granted its vote to. */
  private readonly votes = new Map<string, NodeId>();
  /**
   * The term a commit was reported in (the reporting node's current term, at
   * least the term of the leader that committed) -> the highest index reported
   * committed then, with that entry's own term.
   */
  private readonly committedInTerm = new Map<number, { readonly index: number; readonly entryTerm: number }>();
  leadersSeen = 0;
  highestCommitted = 0;

  /**
   * Election safety (§5.2): at most one leader per term. Called when a node
   * reports the leader role and whenever it sends a message only a leader
   * sends. Returns true the first time this leader is seen for the term.
   */
  leaderSeen(nodeId: NodeId, term: number): boolean {
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) {
      this.leaderOfTerm.set(term, nodeId);
      this.leadersSeen++;
      return true;
    }
    if (known !== nodeId) throw new Violation("election-safety", `two leaders in term ${term}: ${known} and ${nodeId}`);
    return false;
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaderOfTerm.get(term);
  }

  /**
   * Leader completeness (§5.4): a leader of `term` holds every entry committed
   * in an earlier term. Entries committed in later terms are excluded: this
   * node may be a stale leader that has not yet heard of them.
   */
  checkLeaderCompleteness(nodeId: NodeId, term: number, log: LeaderLogView): void {
    let index = 0;
    let indexTerm = 0;
    for (const [reportedTerm, committed] of this.committedInTerm) {
      if (reportedTerm < term && committed.index > index) {
        index = committed.index;
        indexTerm = committed.entryTerm;
      }
    }
    if (index === 0 || index <= log.snapshotIndex) return;
    const found = log.term(index);
    if (found !== indexTerm) {
      throw new Violation(
        "leader-completeness",
        `${nodeId} leads term ${term} but its log has ${found === undefined ? "no entry" : `term ${found}`} at ${index}, where an entry of term ${indexTerm} was committed before term ${term}`,
      );
    }
  }

  /**
   * Entries a node reports as committed (in a Ready) while in `reporterTerm`;
   * they feed leader completeness. An old entry committed by a later leader
   * binds only the leaders after that one (§5.4.2): a stale leader of a term
   * in between may lack it.
   */
  committed(entries: readonly Entry[], reporterTerm: number): void {
    for (const entry of entries) {
      const known = this.committedInTerm.get(reporterTerm);
      if (known === undefined || entry.index > known.index) this.committedInTerm.set(reporterTerm, { index: entry.index, entryTerm: entry.term });
      if (entry.index > this.highestCommitted) this.highestCommitted = entry.index;
    }
  }

  /**
   * Log matching (§5.3): entries with one (index, term) anywhere have the same
   * content and the same term before them; by induction the logs agree up to there.
   * `termBefore` is the term at entries[0].index - 1 in the node's log.
   */
  persisted(nodeId: NodeId, termBefore: number, entries: readonly Entry[], digestOf: (entry: Entry) => number): void {
    let prevTerm = termBefore;
    for (const entry of entries) {
      if (entry.term < prevTerm) {
        throw new Violation("log-matching", `${nodeId} persisted entry (${entry.index}, t${entry.term}) after an entry of term ${prevTerm}`);
      }
      const key = entry.index * TERM_SPAN + entry.term;
      const digest = digestOf(entry);
      const known = this.entryAt.get(key);
      if (known === undefined) {
        this.entryAt.set(key, { prevTerm, digest, nodeId });
      } else if (known.prevTerm !== prevTerm || known.digest !== digest) {
        throw new Violation(
          "log-matching",
          `entry (${entry.index}, t${entry.term}) differs between ${known.nodeId} (prev term ${known.prevTerm}, digest ${known.digest}) ` +
            `and ${nodeId} (prev term ${prevTerm}, digest ${digest})`,
        );
      }
      prevTerm = entry.term;
    }
  }

  /** Terms never go back, even across restarts (the term is durable), and one vote per term (§5.2). */
  hardStatePersisted(nodeId: NodeId, before: HardState, after: HardState): void {
    if (after.term < before.term) {
      throw new Violation("monotonic-term", `${nodeId} persisted term ${after.term} after term ${before.term}`);
    }
    if (after.term === before.term && before.vote !== null && after.vote !== before.vote) {
      throw new Violation("double-vote", `${nodeId} voted for ${before.vote} and then ${String(after.vote)} in term ${after.term}`);
    }
  }

  /**
   * One vote per term (§5.2), as seen on the wire: a grant that leaves a node
   * is a promise, even if the node crashes before it wrote its vote down.
   */
  voteGranted(voter: NodeId, term: number, candidate: NodeId): void {
    const key = `${voter}@${term}`;
    const earlier = this.votes.get(key);
    if (earlier === undefined) this.votes.set(key, candidate);
    else if (earlier !== candidate) {
      throw new Violation("double-vote", `${voter} granted its term ${term} vote to ${earlier} and then to ${candidate}`);
    }
  }

  /** The commit index never goes back within one incarnation of a node. */
  commitAdvanced(nodeId: NodeId, before: number, after: number): void {
    if (after < before) throw new Violation("monotonic-commit", `${nodeId} commit went back from ${before} to ${after}`);
  }

  /**
   * State machine safety (§5.4.3): no two nodes apply different entries at one
   * index, and entries are applied in order without gaps.
   */
  applied(nodeId: NodeId, appliedBefore: number, entry: Entry, digest: number, stateHashAfter: number): void {
    if (entry.index !== appliedBefore + 1) {
      throw new Violation("apply-order", `${nodeId} applied index ${entry.index} right after ${appliedBefore}`);
    }
    const known = this.appliedAt.get(entry.index);
    if (known === undefined) {
      this.appliedAt.set(entry.index, { term: entry.term, digest, stateHash: stateHashAfter, nodeId });
      return;
    }
    if (known.term !== entry.term || known.digest !== digest || known.stateHash !== stateHashAfter) {
      throw new Violation(
        "state-machine-safety",
        `at index ${entry.index} ${known.nodeId} applied (t${known.term}, digest ${known.digest}, state ${known.stateHash}) ` +
          `but ${nodeId} applied (t${entry.term}, digest ${digest}, state ${stateHashAfter})`,
      );
    }
  }

  /** A snapshot's state must be the state every node reached by applying up to its index. */
  snapshotInstalled(nodeId: NodeId, state: StateSnapshot): void {
    if (state.index === 0) return;
    const known = this.appliedAt.get(state.index);
    if (known === undefined) {
      throw new Violation("state-machine-safety", `${nodeId} installed a snapshot at ${state.index}, an index no node has applied`);
    }
    if (known.stateHash !== state.stateHash) {
      throw new Violation(
        "state-machine-safety",
        `${nodeId} installed a snapshot at ${state.index} with state ${state.stateHash}, but ${known.nodeId} reached state ${known.stateHash} there`,
      );
    }
  }
}
