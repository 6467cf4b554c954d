/**
 * The node's state as SOFAJraft names it (STATE_LEADER, ...), derived from the
 * core's role and the node's own lifecycle; and the refusal of a request that
 * only the leader serves.
 */
import type { Role } from "../core/ready.js";
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";

export type NodeState = "leader" | "transferring" | "candidate" | "follower" | "error" | "uninitialized" | "shutting" | "shutdown";

/** Where the node is in its life; the Raft role matters only while "running". */
export type Lifecycle = "uninitialized" | "running" | "error" | "shutting" | "shutdown";

export function nodeState(lifecycle: Lifecycle, role: Role, transferring: boolean): NodeState {
  if (lifecycle !== "running") return lifecycle;
  switch (role) {
    case "leader":
      return transferring ? "transferring" : "leader";
    case "candidate":
    case "preCandidate":
      return "candidate";
    case "follower":
      return "follower";
  }
}

/** ENOTLEADER, with the leader this node knows as the hint. */
export function notLeader(leaderId: NodeId | null): RaftError {
  return new RaftError("ENOTLEADER", leaderId !== null ? `not the leader; the leader is ${leaderId}` : "not the leader, and no leader is known; retry after an election", leaderId);
}
