/**
 * A client's cache of each group's configuration and leader (SOFAJraft's
 * RouteTable). Reads are from the cache only; refreshLeader and
 * refreshConfiguration ask the group through a CliService. A client that
 * follows a redirect records it with updateLeader; a leader outside the cached
 * configuration is kept beside it, and the next refreshLeader or
 * refreshConfiguration brings the whole new membership in, with no restart.
 */
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import { parsePeerId } from "../transport/peer-address.js";
import { validateName } from "../transport/protocol.js";
import type { CliService, ServerList } from "./cli-service.js";
import { allPeers, parsePeerList, type PeerList } from "./peer-list.js";

interface Route {
  conf: PeerList;
  leader: NodeId | null;
}

export class RouteTable {
  private readonly routes = new Map<string, Route>();

  constructor(private readonly cli: CliService) {}

  /** Sets the group's peers (say, from the client's configuration or a membership change's answer); the leader is kept if still listed. */
  updateConfiguration(groupId: string, conf: ServerList): void {
    validateName(groupId, "group id");
    if (typeof conf !== "string" && (conf === null || typeof conf !== "object" || !Array.isArray(conf.peers) || !Array.isArray(conf.learners))) {
      throw new RaftError("EINVAL", `the configuration of group "${groupId}" must be a server list string or { peers, learners }`);
    }
    const list = typeof conf === "string" ? parsePeerList(conf, { what: `the configuration of group "${groupId}"` }) : copy(conf);
    if (allPeers(list).length === 0) throw new RaftError("EINVAL", `the configuration of group "${groupId}" names no peer`);
    for (const id of allPeers(list)) parsePeerId(id);
    const leader = this.routes.get(groupId)?.leader ?? null;
    this.routes.set(groupId, { conf: list, leader: leader !== null && allPeers(list).includes(leader) ? leader : null });
  }

  getConfiguration(groupId: string): PeerList | null {
    const route = this.routes.get(groupId);
    return route === undefined ? null : copy(route.conf);
  }

  /**
   * Records the group's leader, from an answer or an ENOTLEADER hint (null:
   * forget it). A group with no configuration yet starts with this one peer.
   */
  updateLeader(groupId: string, leaderId: NodeId | null): void {
    validateName(groupId, "group id");
    if (leaderId !== null) parsePeerId(leaderId);
    const route = this.routes.get(groupId);
    if (route === undefined) {
      if (leaderId !== null) this.routes.set(groupId, { conf: { peers: [leaderId], learners: [] }, leader: leaderId });
      return;
    }
    route.leader = leaderId;
  }

  /** The cached leader, or null: then refreshLeader. */
  selectLeader(groupId: string): NodeId | null {
    return this.routes.get(groupId)?.leader ?? null;
  }

  /** Asks the cached peers (and the cached leader) who leads now; a leader outside the cached peers brings the new configuration in too. */
  async refreshLeader(groupId: string): Promise<NodeId> {
    const route = this.require(groupId);
    const leader = await this.cli.getLeader(groupId, this.askable(route));
    route.leader = leader;
    if (!allPeers(route.conf).includes(leader)) await this.refreshConfiguration(groupId);
    return leader;
  }

  /** Asks the leader for the group's voters and learners, and caches them with the leader. */
  async refreshConfiguration(groupId: string): Promise<PeerList> {
    const route = this.require(groupId);
    const { leaderId, peers, learners } = await this.cli.getConfiguration(groupId, this.askable(route));
    const conf = { peers: [...peers], learners: [...learners] };
    this.routes.set(groupId, { conf, leader: leaderId });
    return copy(conf);
  }

  /** Forgets a group; false if it was not cached. */
  removeGroup(groupId: string): boolean {
    return this.routes.delete(groupId);
  }

  private require(groupId: string): Route {
    const route = this.routes.get(groupId);
    if (route === undefined) throw new RaftError("EINVAL", `group "${groupId}" is not in the route table; call updateConfiguration with its server list first`);
    return route;
  }

  /** The peers to ask: the configuration, and a leader learned from a redirect that it does not list yet. */
  private askable(route: Route): PeerList {
    const ids = allPeers(route.conf);
    return route.leader === null || ids.includes(route.leader) ? route.conf : { peers: [...route.conf.peers, route.leader], learners: route.conf.learners };
  }
}

function copy(list: PeerList): PeerList {
  return { peers: [...list.peers], learners: [...list.learners] };
}
