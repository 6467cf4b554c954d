/**
 * Quorum arithmetic for simple majorities and joint configurations
 * (§5.2, §5.3; §6 and thesis §4.3: in a joint configuration both the old and
 * the new majority must agree).
 */
import type { NodeId } from "./types.js";

export type VoteOutcome = "won" | "lost" | "pending";

/**
 * The largest value a majority of `voters` has reached, e.g. the highest log
 * index replicated on a majority. An empty voter set imposes no constraint.
 */
export function majorityValue(voters: ReadonlySet<NodeId>, valueOf: (id: NodeId) => number): number {
  if (voters.size === 0) return Number.MAX_SAFE_INTEGER;
  const values: number[] = [];
  for (const id of voters) values.push(valueOf(id));
  values.sort((a, b) => b - a);
  return values[Math.floor(values.length / 2)]!;
}

export function jointValue(
  incoming: ReadonlySet<NodeId>,
  outgoing: ReadonlySet<NodeId>,
  valueOf: (id: NodeId) => number,
): number {
  return Math.min(majorityValue(incoming, valueOf), majorityValue(outgoing, valueOf));
}

/** Tally of votes: `granted(id)` is true, false, or undefined (no answer yet). */
export function majorityVote(voters: ReadonlySet<NodeId>, granted: (id: NodeId) => boolean | undefined): VoteOutcome {
  if (voters.size === 0) return "won";
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = granted(id);
    if (vote === true) yes++;
    else if (vote === undefined) missing++;
  }
  const needed = Math.floor(voters.size / 2) + 1;
  if (yes >= needed) return "won";
  if (yes + missing >= needed) return "pending";
  return "lost";
}

export function jointVote(
  incoming: ReadonlySet<NodeId>,
  outgoing: ReadonlySet<NodeId>,
  granted: (id: NodeId) => boolean | undefined,
): VoteOutcome {
  const a = majorityVote(incoming, granted);
  const b = majorityVote(outgoing, granted);
  if (a === "lost" || b === "lost") return "lost";
  if (a === "won" && b === "won") return "won";
  return "pending";
}
