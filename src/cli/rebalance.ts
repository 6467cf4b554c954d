/**
 * The next step of a leader rebalance (SOFAJraft's CliService.rebalance):
 * count how many groups each node leads, and move one group from a node that
 * leads at least two more than another to that other node. Moves stop when
 * every pair differs by at most one, or when no overloaded node's group has
 * the lighter node among its alive voters.
 */
import type { NodeId } from "../core/types.js";

export interface RebalanceMove {
  readonly groupId: string;
  readonly target: NodeId;
}

/**
 * `nodes`: the peers that may lead; `leaders`: each group's leader (possibly a
 * node outside `nodes`, which then only gives groups away); `aliveOf`: a
 * group's alive voters, asked only for groups that are candidates to move.
 */
export async function planRebalance(
  nodes: readonly NodeId[],
  leaders: ReadonlyMap<string, NodeId>,
  aliveOf: (groupId: string) => Promise<ReadonlySet<NodeId>>,
): Promise<RebalanceMove | null> {
  const loads = new Map<NodeId, number>(nodes.map((node) => [node, 0]));
  for (const leader of leaders.values()) loads.set(leader, (loads.get(leader) ?? 0) + 1);
  const load = (node: NodeId): number => loads.get(node)!;
  // Stable sorts: ties keep the order of the server list, so a plan is reproducible.
  const heaviest = [...loads.keys()].sort((a, b) => load(b) - load(a));
  const lightest = [...nodes].sort((a, b) => load(a) - load(b));
  for (const source of heaviest) {
    const targets = lightest.filter((target) => load(source) - load(target) >= 2);
    if (targets.length === 0) continue;
    for (const [groupId, leader] of leaders) {
      if (leader !== source) continue;
      const alive = await aliveOf(groupId);
      const target = targets.find((node) => alive.has(node));
      if (target !== undefined) return { groupId, target };
    }
  }
  return null;
}
