/**
 * The live RaftNodes of this process, by transport and group (SOFAJraft's
 * NodeManager). A process may host many groups, and a group several local
 * peers (distinct idx), all on one transport or on several.
 *
 * The first node on a transport installs the CLI service there, so every
 * process that runs a node answers `tsraft admin` and CliService requests, as
 * a SOFAJraft RPC server registers the CLI processors beside the Raft ones.
 */
import type { NodeId } from "../core/types.js";
import type { Transport } from "../transport/transport.js";
import { serveCli } from "./cli-serving.js";
import type { RaftNode } from "./raft-node.js";

export class NodeManager {
  /**
   * Nodes by group on each transport. An entry lives as long as its transport:
   * handle() cannot be undone, so a node that starts later on the same
   * transport is served by the CLI service already registered there.
   */
  private readonly byTransport = new WeakMap<Transport, Map<string, Set<RaftNode>>>();
  /** Nodes by group over every transport, for routeUnreachable (which is not told the transport). */
  private readonly byGroup = new Map<string, Set<RaftNode>>();

  /** Groups whose node is opening its storage on each transport: the CLI service asks to retry rather than refuse. */
  private readonly startingByTransport = new WeakMap<Transport, Map<string, number>>();

  /**
   * A node of `groupId` starts on `transport` (RaftNode.start, before it opens its storage):
   * the CLI service is installed at once, and answers EAGAIN for the group until the node
   * joins or fails to start. Returns the function to call then.
   */
  starting(groupId: string, transport: Transport): () => void {
    this.groupsOn(transport);
    const starting = this.startingByTransport.get(transport)!;
    starting.set(groupId, (starting.get(groupId) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const count = (starting.get(groupId) ?? 1) - 1;
      if (count > 0) starting.set(groupId, count);
      else starting.delete(groupId);
    };
  }

  /** Registers a node that joined its group on `transport`; installs the CLI service on a transport seen for the first time. */
  add(node: RaftNode, transport: Transport): void {
    addTo(this.groupsOn(transport), node);
    addTo(this.byGroup, node);
  }

  private groupsOn(transport: Transport): Map<string, Set<RaftNode>> {
    let groups = this.byTransport.get(transport);
    if (groups === undefined) {
      const created = new Map<string, Set<RaftNode>>();
      const starting = new Map<string, number>();
      serveCli(transport, {
        nodesOf: (groupId) => [...(created.get(groupId) ?? [])],
        isStarting: (groupId) => starting.has(groupId),
      });
      this.byTransport.set(transport, (groups = created));
      this.startingByTransport.set(transport, starting);
    }
    return groups;
  }

  /** Forgets a node that left its group (shut down or halted). */
  remove(node: RaftNode, transport: Transport): void {
    const groups = this.byTransport.get(transport);
    if (groups !== undefined) removeFrom(groups, node);
    removeFrom(this.byGroup, node);
  }

  /** The local nodes of `groupId` on every transport. */
  nodesOf(groupId: string): RaftNode[] {
    return [...(this.byGroup.get(groupId) ?? [])];
  }

  /** The local node of `groupId` with this peer id, if it runs here. */
  get(groupId: string, peerId: NodeId): RaftNode | undefined {
    for (const node of this.byGroup.get(groupId) ?? []) if (node.serverId === peerId) return node;
    return undefined;
  }
}

/** The process's registry, as SOFAJraft's NodeManager.getInstance(). RaftNode registers itself here. */
export const nodeManager = new NodeManager();

function addTo(groups: Map<string, Set<RaftNode>>, node: RaftNode): void {
  let nodes = groups.get(node.groupId);
  if (nodes === undefined) groups.set(node.groupId, (nodes = new Set()));
  nodes.add(node);
}

function removeFrom(groups: Map<string, Set<RaftNode>>, node: RaftNode): void {
  const nodes = groups.get(node.groupId);
  nodes?.delete(node);
  if (nodes?.size === 0) groups.delete(node.groupId);
}
