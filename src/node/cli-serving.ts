/**
 * The server side of the CLI service: one handler per transport (installed by
 * the NodeManager) answers for every local group. Operations that need the
 * leader answer ENOTLEADER with the leader this node knows, so the client
 * follows the hint. The handler keeps no queue of its own: the transport
 * bounds concurrent requests, the node bounds pending membership changes.
 */
import type { ConfState, NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import type { Transport } from "../transport/transport.js";
import { CLI_SERVICE, decodeCliRequest, encodeCliAnswer, type CliAnswers, type CliMembershipChange, type CliRequest, type PeerList } from "./cli-protocol.js";
import type { RaftNode } from "./raft-node.js";

/** Group and peer names an error lists before "...": enough to spot a typo. */
const NAMES_IN_ERRORS = 8;

export interface LocalGroups {
  nodesOf(groupId: string): readonly RaftNode[];
  /** A node of the group is starting here (loading its log): ask to retry rather than refuse. */
  isStarting(groupId: string): boolean;
}

/** Serves CLI requests on `transport` for the local nodes, by group. */
export function serveCli(transport: Transport, groups: LocalGroups): void {
  transport.handle(CLI_SERVICE, async (payload) => {
    const request = decodeCliRequest(payload);
    const node = chooseNode(request, groups.nodesOf(request.groupId), groups.isStarting(request.groupId));
    return answer(node, request);
  });
}

function chooseNode(request: CliRequest, nodes: readonly RaftNode[], starting: boolean): RaftNode {
  if (nodes.length === 0 && starting) throw new RaftError("EAGAIN", `the peer of group "${request.groupId}" in this process is starting (loading its log); retry shortly`);
  if (nodes.length === 0) throw new RaftError("EINVAL", `group "${request.groupId}" has no peer in this process; check the group id and the server list`);
  if (request.peerId !== undefined) {
    const named = nodes.find((node) => node.serverId === request.peerId);
    if (named === undefined) {
      const local = nodes.slice(0, NAMES_IN_ERRORS).map((node) => node.serverId).join(", ");
      throw new RaftError("EINVAL", `peer ${request.peerId} of group "${request.groupId}" does not run in this process (local peers: ${local})`);
    }
    return named;
  }
  return nodes.find((node) => node.isLeader()) ?? nodes[0]!;
}

async function answer(node: RaftNode, request: CliRequest): Promise<Uint8Array> {
  switch (request.op) {
    case "getLeader":
      return encodeCliAnswer<"getLeader">({ leaderId: node.leaderId, term: node.term });
    case "getConfiguration": {
      requireLeader(node);
      const list: PeerList = request.onlyAlive ? { peers: node.listAlivePeers(), learners: node.listAliveLearners() } : current(node);
      return encodeCliAnswer<"getConfiguration">(list);
    }
    case "changeMembership": {
      requireLeader(node);
      const before = current(node);
      const after = await changeMembership(node, request.change, before);
      return encodeCliAnswer<"changeMembership">({ before, after: { peers: [...new Set([...after.voters, ...after.outgoing])].sort(), learners: [...after.learners].sort() } });
    }
    case "transferLeader":
      requireLeader(node);
      node.transferLeadershipTo(request.target ?? "any");
      return encodeCliAnswer<"transferLeader">({ leaderId: node.serverId });
    case "resetPeer":
      node.resetPeers(request.peers);
      return encodeCliAnswer<"resetPeer">(current(node));
    case "snapshot": {
      const meta = await node.snapshot();
      const answer: CliAnswers["snapshot"] = { snapshot: meta === null ? null : { index: meta.index, term: meta.term } };
      return encodeCliAnswer<"snapshot">(answer);
    }
  }
}

function changeMembership(node: RaftNode, change: CliMembershipChange, before: PeerList): Promise<ConfState> {
  switch (change.kind) {
    case "addPeer":
      return node.addPeer(change.peer);
    case "removePeer":
      return node.removePeer(change.peer);
    case "learner2Follower":
      // One configuration change: adding a learner as a voter promotes it.
      if (!before.learners.includes(change.peer)) {
        return Promise.reject(new RaftError("EINVAL", `${change.peer} is not a learner of group "${node.groupId}" (learners: ${before.learners.join(", ") || "none"}); add it with addLearners first`));
      }
      return node.addPeer(change.peer);
    case "changePeers":
      return node.changePeers(change.peers);
    case "addLearners":
      return node.addLearners(change.learners);
    case "removeLearners":
      return node.removeLearners(change.learners);
    case "resetLearners":
      return node.resetLearners(change.learners);
  }
}

function current(node: RaftNode): PeerList {
  return { peers: node.listPeers(), learners: [...node.listLearners()].sort() };
}

/** The leader's view is the authoritative one; a follower sends the client to it. */
function requireLeader(node: RaftNode): void {
  if (node.isLeader()) return;
  const leaderId: NodeId | null = node.leaderId;
  const where = leaderId !== null && leaderId !== node.serverId ? `; the leader is ${leaderId}` : ", and knows no leader; retry after an election";
  throw new RaftError("ENOTLEADER", `${node.serverId} is not the leader of group "${node.groupId}"${where}`, leaderId !== node.serverId ? leaderId : null);
}
