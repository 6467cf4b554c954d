/** The answer of a follower to a call only the leader serves: ENOTLEADER with the leader it knows. */
import type { RaftNode } from "../node/raft-node.js";
import type { KvErrorResult } from "./commands.js";

export function notLeaderResult(node: RaftNode): KvErrorResult {
  const leaderId = node.leaderId;
  const hint = leaderId === node.serverId ? null : leaderId;
  const message =
    hint !== null ? `${node.serverId} is not the leader of group "${node.groupId}"; the leader is ${hint}` : `${node.serverId} is not the leader of group "${node.groupId}", and no leader is known; retry after the election`;
  return { type: "error", code: "ENOTLEADER", message, leaderHint: hint };
}
