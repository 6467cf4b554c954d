/**
 * The group's members as this node sees them, and on the leader which of them
 * are alive: heard from within an election timeout or, while the group is
 * quiesced and exchanges nothing, answering the liveness probe of their process.
 */
import type { RaftCore } from "../core/raft.js";
import type { NodeId } from "../core/types.js";
import { notLeader } from "./node-state.js";
import type { QuiescenceWatch } from "./quiescence-watch.js";

/** Senders remembered; a bound against ids made up by a bad peer. */
const MAX_TRACKED_PEERS = 1024;

export class MemberRoster {
  private readonly lastHeardMs = new Map<NodeId, number>();

  constructor(
    private readonly core: RaftCore,
    private readonly selfId: NodeId,
    private readonly electionTimeoutMs: number,
    /** Null when quiescing is off. */
    private readonly quiescence: QuiescenceWatch | null,
  ) {}

  /** A message from `peer` arrived. */
  heardFrom(peer: NodeId): void {
    if (this.lastHeardMs.has(peer) || this.lastHeardMs.size < MAX_TRACKED_PEERS) this.lastHeardMs.set(peer, Date.now());
  }

  /** The voters; while joint, of both configurations. */
  peers(): NodeId[] {
    const conf = this.core.status().conf;
    return [...new Set([...conf.voters, ...conf.outgoing])].sort();
  }

  learners(): NodeId[] {
    return [...this.core.status().conf.learners];
  }

  /** On the leader: the voters heard from within an election timeout, itself included. */
  alivePeers(): NodeId[] {
    const status = this.core.status();
    if (status.role !== "leader" || status.progress === null) throw notLeader(status.leaderId);
    const since = Date.now() - this.electionTimeoutMs;
    return this.peers().filter((id) => id === this.selfId || (status.progress![id] !== undefined && this.heardFromSince(id, since)));
  }

  /** On the leader: the learners heard from within an election timeout. */
  aliveLearners(): NodeId[] {
    const status = this.core.status();
    if (status.role !== "leader" || status.progress === null) throw notLeader(status.leaderId);
    const since = Date.now() - this.electionTimeoutMs;
    return this.learners().filter((id) => status.progress![id] !== undefined && this.heardFromSince(id, since));
  }

  private heardFromSince(peer: NodeId, sinceMs: number): boolean {
    if ((this.lastHeardMs.get(peer) ?? -Infinity) >= sinceMs) return true;
    // A quiesced group exchanges nothing: the probe of the peer's process speaks for it.
    return this.core.quiesced && this.quiescence !== null && this.quiescence.processAnswers(peer);
  }
}
