/**
 * The leader's side of snapshot install for RaftNodes: one snapshot service
 * per transport, shared by every node on it, since a transport takes one
 * handler per service name (as one SOFAJraft RPC server serves every group).
 * It serves the snapshot store of the asked group's local node, and tells
 * that node which address fetched a manifest or a chunk, so the node can
 * tell a copy that progresses from one that stalled.
 */
import type { SnapshotStore } from "../storage/snapshot-store.js";
import type { Transport } from "../transport/transport.js";
import { serveSnapshots } from "./snapshot-service.js";

export interface ServingNode {
  readonly groupId: string;
  readonly store: SnapshotStore;
  /** A group may have several local peers (distinct idx); followers copy from the leader among them. */
  isLeader(): boolean;
  /** A manifest or chunk of this group's snapshot went to `requesterAddress` (`host:port`). */
  snapshotServed(requesterAddress: string): void;
}

/**
 * The nodes on each transport, by group. An entry lives as long as its
 * transport: handle() cannot be undone, so a node that starts later on the
 * same transport joins the service already registered there.
 */
const nodesByTransport = new WeakMap<Transport, Map<string, Set<ServingNode>>>();

/** Serves `node`'s snapshots on `transport` until the returned function is called. */
export function serveNodeSnapshots(transport: Transport, node: ServingNode): () => void {
  let groups = nodesByTransport.get(transport);
  if (groups === undefined) {
    const created = new Map<string, Set<ServingNode>>();
    serveSnapshots(transport, {
      resolveStore: (groupId) => servingNodeOf(created.get(groupId))?.store,
      onServed: (groupId, requesterAddress) => {
        for (const member of created.get(groupId) ?? []) member.snapshotServed(requesterAddress);
      },
    });
    nodesByTransport.set(transport, (groups = created));
  }
  let members = groups.get(node.groupId);
  if (members === undefined) groups.set(node.groupId, (members = new Set()));
  members.add(node);
  const registered = groups;
  return () => {
    members.delete(node);
    if (members.size === 0 && registered.get(node.groupId) === members) registered.delete(node.groupId);
  };
}

function servingNodeOf(members: ReadonlySet<ServingNode> | undefined): ServingNode | undefined {
  if (members === undefined) return undefined;
  for (const member of members) if (member.isLeader()) return member;
  return members.values().next().value;
}
