/** The node's state as SOFAJraft names it (STATE_LEADER, ...), derived from the core's role and the node's own lifecycle. */
import type { Role } from "../core/ready.js";

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
