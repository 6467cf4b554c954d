/**
 * SOFAJraft's CliService over tsraft's transport: membership, leadership and
 * snapshots of a group, given any reachable peers of it. It finds the leader
 * (asking every listed peer, trusting the answer of the highest term), follows
 * ENOTLEADER's leader hint, and retries while a leader is being elected or a
 * membership change is in progress, all within one deadline per operation.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { NodeId } from "../core/types.js";
import { RaftError, type RaftErrorCode } from "../errors.js";
import { CLI_SERVICE, decodeCliAnswer, encodeCliRequest, type CliAnswers, type CliMembershipChange, type CliOp, type CliRequest, type CliRequestBodies, type PeerList } from "../node/cli-protocol.js";
import { parsePeerId, peerIdOrNull } from "../transport/peer-address.js";
import { plainMessage, validateName } from "../transport/protocol.js";
import { positiveInteger, type Transport } from "../transport/transport.js";
import { allPeers, parsePeerIds, parsePeerList } from "./peer-list.js";
import { planRebalance } from "./rebalance.js";

export interface CliServiceOptions {
  /** One operation, redirects and retries included. Default 10000 ms. */
  readonly timeoutMs?: number;
  /** One peer asked whom it follows. Default 2000 ms. */
  readonly probeTimeoutMs?: number;
}

/** A group's peers: a parsed list, or a server list as SOFAJraft writes it ("a:1,b:1,c:1/learner"). */
export type ServerList = PeerList | string;

/** What a membership change did, as the leader saw it. */
export interface ConfigurationChange {
  readonly before: PeerList;
  readonly after: PeerList;
}

/** A group's configuration as its leader holds it. */
export interface GroupConfiguration extends PeerList {
  readonly leaderId: NodeId;
}

export interface SnapshotPoint {
  readonly index: number;
  readonly term: number;
}

/** Codes worth another try before the deadline: an election, a redirect without a hint, a change in progress, a peer restarting. */
const RETRIED_CODES: ReadonlySet<RaftErrorCode> = new Set(["ENOTLEADER", "EAGAIN", "EBUSY"]);
/** Transport failures: the peer did not answer at all. */
const UNREACHABLE_CODES: ReadonlySet<RaftErrorCode> = new Set(["EAGAIN", "ETIMEDOUT", "ESHUTDOWN"]);
const MAX_REDIRECTS = 8;
const RETRY_MIN_DELAY_MS = 50;
const RETRY_MAX_DELAY_MS = 500;
/** Rounds in which no peer answered at all before giving up early: the cluster is down or the list is wrong. */
const UNANSWERED_ROUNDS = 2;

type RequestOf<Op extends CliOp> = { readonly groupId: string; readonly op: Op } & CliRequestBodies[Op];

export class CliService {
  readonly timeoutMs: number;
  readonly probeTimeoutMs: number;

  /** `transport` carries the requests only; a transport that does not listen is enough. */
  constructor(
    private readonly transport: Transport,
    options: CliServiceOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 2000;
    positiveInteger(this.timeoutMs, "timeoutMs");
    positiveInteger(this.probeTimeoutMs, "probeTimeoutMs");
  }

  /** Adds a voter; it catches up with the leader's log first (ECATCHUP if it cannot). */
  addPeer(groupId: string, conf: ServerList, peer: NodeId): Promise<ConfigurationChange> {
    return this.change(groupId, conf, () => ({ kind: "addPeer", peer: peerIdOf(peer, "peer") }));
  }

  removePeer(groupId: string, conf: ServerList, peer: NodeId): Promise<ConfigurationChange> {
    return this.change(groupId, conf, () => ({ kind: "removePeer", peer: peerIdOf(peer, "peer") }));
  }

  /** Replaces the voters; a learner named here is promoted; more than one voter changed goes through a joint configuration. */
  changePeers(groupId: string, conf: ServerList, newPeers: readonly NodeId[] | string): Promise<ConfigurationChange> {
    return this.change(groupId, conf, () => ({ kind: "changePeers", peers: idsOf(newPeers, "newPeers", { learners: false, allowEmpty: false }) }));
  }

  addLearners(groupId: string, conf: ServerList, learners: readonly NodeId[] | string): Promise<ConfigurationChange> {
    return this.change(groupId, conf, () => ({ kind: "addLearners", learners: idsOf(learners, "learners", { learners: true, allowEmpty: false }) }));
  }

  removeLearners(groupId: string, conf: ServerList, learners: readonly NodeId[] | string): Promise<ConfigurationChange> {
    return this.change(groupId, conf, () => ({ kind: "removeLearners", learners: idsOf(learners, "learners", { learners: true, allowEmpty: false }) }));
  }

  /** Makes exactly these the learners (none: an empty list). */
  resetLearners(groupId: string, conf: ServerList, learners: readonly NodeId[] | string): Promise<ConfigurationChange> {
    return this.change(groupId, conf, () => ({ kind: "resetLearners", learners: idsOf(learners, "learners", { learners: true, allowEmpty: true }) }));
  }

  /** Promotes a learner to a voter in one configuration change. */
  learner2Follower(groupId: string, conf: ServerList, learner: NodeId): Promise<ConfigurationChange> {
    return this.change(groupId, conf, () => ({ kind: "learner2Follower", peer: peerIdOf(learner, "learner") }));
  }

  /** Hands leadership to `peer` ("any": the most up-to-date voter); resolves with the new leader once it leads. */
  async transferLeader(groupId: string, conf: ServerList, peer: NodeId | "any"): Promise<NodeId> {
    const { list, deadlineMs } = this.begin(groupId, conf);
    const target = peer === "any" ? null : peerIdOf(peer, "peer");
    return this.transferWithin(groupId, list, target, deadlineMs);
  }

  /** Saves a snapshot on `peer` (omitted: on the leader); null when nothing was applied there since its last one. */
  async snapshot(groupId: string, conf: ServerList, peer?: NodeId): Promise<SnapshotPoint | null> {
    const { list, deadlineMs } = this.begin(groupId, conf);
    if (peer !== undefined) return (await this.ask(peerIdOf(peer, "peer"), { groupId, op: "snapshot" }, deadlineMs)).snapshot;
    return (await this.onLeader(groupId, list, { groupId, op: "snapshot" }, deadlineMs)).answer.snapshot;
  }

  /**
   * UNSAFE recovery when a majority of the group is lost for good: forces `newPeers` as the
   * voters on `peer` alone, without consensus (RaftNode.resetPeers). Call it for every
   * survivor with the same list. Resolves with the peer's configuration once forced.
   */
  async resetPeer(groupId: string, peer: NodeId, newPeers: readonly NodeId[] | string): Promise<PeerList> {
    groupIdOf(groupId);
    const peers = idsOf(newPeers, "newPeers", { learners: false, allowEmpty: false });
    // Asked of that one peer (ask() names it): a forced reset is never redirected.
    return this.ask(peerIdOf(peer, "peer"), { groupId, op: "resetPeer", peers }, this.deadline());
  }

  async getLeader(groupId: string, conf: ServerList): Promise<NodeId> {
    const { list, deadlineMs } = this.begin(groupId, conf);
    return this.findLeader(groupId, allPeers(list), deadlineMs);
  }

  /** The voters and learners, from the leader. */
  async getConfiguration(groupId: string, conf: ServerList): Promise<GroupConfiguration> {
    const { list, deadlineMs } = this.begin(groupId, conf);
    const { leaderId, answer } = await this.onLeader(groupId, list, { groupId, op: "getConfiguration", onlyAlive: false }, deadlineMs);
    return { leaderId, peers: answer.peers, learners: answer.learners };
  }

  async getPeers(groupId: string, conf: ServerList): Promise<NodeId[]> {
    return [...(await this.getConfiguration(groupId, conf)).peers];
  }

  /** The voters the leader heard from within an election timeout, itself included. */
  async getAlivePeers(groupId: string, conf: ServerList): Promise<NodeId[]> {
    return [...(await this.alive(groupId, conf)).peers];
  }

  async getLearners(groupId: string, conf: ServerList): Promise<NodeId[]> {
    return [...(await this.getConfiguration(groupId, conf)).learners];
  }

  /** The learners the leader heard from within an election timeout. */
  async getAliveLearners(groupId: string, conf: ServerList): Promise<NodeId[]> {
    return [...(await this.alive(groupId, conf)).learners];
  }

  /**
   * Spreads the leaders of `groupIds` (groups on the same peers, `conf`) evenly
   * over those peers: while one peer leads at least two groups more than
   * another, one of its groups is handed to the other (an alive voter there).
   * Resolves with the leader of each group. Each step has its own timeoutMs.
   */
  async rebalance(groupIds: readonly string[], conf: ServerList): Promise<Map<string, NodeId>> {
    if (!Array.isArray(groupIds) || groupIds.length === 0) throw new RaftError("EINVAL", "rebalance needs a non-empty list of group ids");
    groupIds.forEach((groupId) => groupIdOf(groupId));
    if (new Set(groupIds).size !== groupIds.length) throw new RaftError("EINVAL", `rebalance: a group id is listed twice in ${groupIds.join(", ")}`);
    const list = serverListOf(conf, "conf");
    const leaders = new Map<string, NodeId>();
    for (const groupId of groupIds) leaders.set(groupId, await this.findLeader(groupId, allPeers(list), this.deadline()));
    const alivePeers = new Map<string, ReadonlySet<NodeId>>();
    const aliveOf = async (groupId: string): Promise<ReadonlySet<NodeId>> => {
      let alive = alivePeers.get(groupId);
      if (alive === undefined) alivePeers.set(groupId, (alive = new Set((await this.alive(groupId, list)).peers)));
      return alive;
    };
    // Each move lowers the sum of squared loads, so this bound is never the reason to stop.
    for (let moves = 0; moves < groupIds.length * Math.max(1, list.peers.length); moves++) {
      const move = await planRebalance(list.peers, leaders, aliveOf);
      if (move === null) break;
      try {
        leaders.set(move.groupId, await this.transferWithin(move.groupId, list, move.target, this.deadline()));
      } catch (error) {
        if (!(error instanceof RaftError)) throw error;
        throw new RaftError(error.code, `rebalance: moving the leadership of group "${move.groupId}" to ${move.target} failed (groups moved so far keep their new leaders): ${plainMessage(error)}`);
      }
    }
    return leaders;
  }

  // ---------------------------------------------------------------- machinery

  private begin(groupId: string, conf: ServerList): { list: PeerList; deadlineMs: number } {
    groupIdOf(groupId);
    return { list: serverListOf(conf, "conf"), deadlineMs: this.deadline() };
  }

  private deadline(): number {
    return Date.now() + this.timeoutMs;
  }

  private async change(groupId: string, conf: ServerList, change: () => CliMembershipChange): Promise<ConfigurationChange> {
    const { list, deadlineMs } = this.begin(groupId, conf);
    return (await this.onLeader(groupId, list, { groupId, op: "changeMembership", change: change() }, deadlineMs)).answer;
  }

  private async alive(groupId: string, conf: ServerList): Promise<PeerList> {
    const { list, deadlineMs } = this.begin(groupId, conf);
    return (await this.onLeader(groupId, list, { groupId, op: "getConfiguration", onlyAlive: true }, deadlineMs)).answer;
  }

  private async transferWithin(groupId: string, list: PeerList, target: NodeId | null, deadlineMs: number): Promise<NodeId> {
    const known = allPeers(list);
    if (target !== null && !known.includes(target)) known.push(target);
    const { leaderId: from } = await this.onLeader(groupId, known, { groupId, op: "transferLeader", target }, deadlineMs);
    if (from === target) return from; // it already leads
    for (;;) {
      await sleep(RETRY_MIN_DELAY_MS);
      let leader: NodeId | null = null;
      try {
        leader = await this.findLeader(groupId, known, deadlineMs);
      } catch (error) {
        if (!(error instanceof RaftError) || error.code !== "ENOTLEADER") throw error; // an election in progress is expected
      }
      if (leader !== null && (target === null ? leader !== from : leader === target)) return leader;
      if (Date.now() >= deadlineMs) {
        const goal = target ?? "another voter";
        throw new RaftError("ETIMEDOUT", `leadership of group "${groupId}" did not move from ${from} to ${goal} within ${this.timeoutMs} ms (the leader now: ${leader ?? "none"}); a transfer gives up after an election timeout when the target lags behind or cannot be reached`);
      }
    }
  }

  /** Runs `request` on the group's leader, following redirects; resolves with the leader that answered. */
  private async onLeader<Op extends CliOp>(groupId: string, list: PeerList | NodeId[], request: RequestOf<Op>, deadlineMs: number): Promise<{ leaderId: NodeId; answer: CliAnswers[Op] }> {
    const known = Array.isArray(list) ? list : allPeers(list);
    let target = await this.findLeader(groupId, known, deadlineMs);
    let redirects = 0;
    for (;;) {
      try {
        return { leaderId: target, answer: await this.ask(target, request, deadlineMs) };
      } catch (error) {
        if (!(error instanceof RaftError)) throw error;
        const hint = error.code === "ENOTLEADER" ? peerIdOrNull(error.leaderHint) : null;
        if (hint !== null && hint !== target && redirects < MAX_REDIRECTS) {
          redirects++;
          if (!known.includes(hint)) known.push(hint);
          target = hint;
          continue;
        }
        if (!RETRIED_CODES.has(error.code) || Date.now() + RETRY_MIN_DELAY_MS >= deadlineMs) throw error;
        await sleep(RETRY_MIN_DELAY_MS);
        target = await this.findLeader(groupId, known, deadlineMs);
      }
    }
  }

  /** Asks every peer whom it follows; the leader named in the highest term wins. Retries while none knows one. */
  private async findLeader(groupId: string, peers: readonly NodeId[], deadlineMs: number): Promise<NodeId> {
    const startedMs = Date.now();
    let delayMs = RETRY_MIN_DELAY_MS;
    let unansweredRounds = 0;
    for (;;) {
      const probeDeadlineMs = Math.min(deadlineMs, Date.now() + this.probeTimeoutMs);
      const results = await Promise.allSettled(peers.map((peer) => this.ask(peer, { groupId, op: "getLeader" }, probeDeadlineMs)));
      let best: CliAnswers["getLeader"] | null = null;
      for (const result of results) {
        if (result.status === "fulfilled" && result.value.leaderId !== null && (best === null || result.value.term > best.term)) best = result.value;
      }
      if (best !== null) return best.leaderId!;
      const reasons = results.map((result, i) => `${peers[i]}: ${result.status === "fulfilled" ? "knows no leader" : describeError(result.reason)}`).join("; ");
      const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason as unknown] : []));
      unansweredRounds = failures.length === results.length ? unansweredRounds + 1 : 0;
      if (unansweredRounds >= UNANSWERED_ROUNDS) {
        const refusal = failures.find((error) => !(error instanceof RaftError) || !UNREACHABLE_CODES.has(error.code));
        if (refusal === undefined) throw new RaftError("EAGAIN", `no peer of group "${groupId}" can be reached (${reasons}); check the server list and that the servers run`);
        throw new RaftError(refusal instanceof RaftError ? refusal.code : "EINVAL", `no peer of group "${groupId}" answered (${reasons})`);
      }
      if (Date.now() + delayMs >= deadlineMs) {
        throw new RaftError("ENOTLEADER", `group "${groupId}" has no leader after ${Date.now() - startedMs} ms (${reasons}); an election may be under way, or too few voters run to form a quorum`);
      }
      await sleep(delayMs);
      delayMs = Math.min(2 * delayMs, RETRY_MAX_DELAY_MS);
    }
  }

  /** One request to one peer, answered by that peer's node of the group. */
  private async ask<Op extends CliOp>(peer: NodeId, request: RequestOf<Op>, deadlineMs: number): Promise<CliAnswers[Op]> {
    const timeoutMs = Math.ceil(deadlineMs - Date.now());
    if (timeoutMs <= 0) throw new RaftError("ETIMEDOUT", `no time left to ask ${peer} (timeoutMs ${this.timeoutMs})`);
    const payload = encodeCliRequest({ ...request, peerId: peer } as CliRequest);
    const answer = await this.transport.request(parsePeerId(peer).address, CLI_SERVICE, payload, { timeoutMs });
    return decodeCliAnswer(request.op as Op, answer, peer);
  }
}

function describeError(error: unknown): string {
  return error instanceof RaftError ? `${error.code} ${plainMessage(error)}` : String(error);
}

function groupIdOf(groupId: unknown): string {
  if (typeof groupId !== "string") throw new RaftError("EINVAL", `a group id is a string, got ${typeof groupId}`);
  validateName(groupId, "group id");
  return groupId;
}

function peerIdOf(peer: unknown, what: string): NodeId {
  if (typeof peer !== "string") throw new RaftError("EINVAL", `${what} must be a peer id string host:port[:idx[:priority]], got ${typeof peer}`);
  parsePeerId(peer);
  return peer;
}

function serverListOf(conf: ServerList, what: string): PeerList {
  if (typeof conf === "string") return parsePeerList(conf, { what });
  if (conf === null || typeof conf !== "object" || !Array.isArray(conf.peers) || !Array.isArray(conf.learners)) {
    throw new RaftError("EINVAL", `${what} must be a server list string or { peers, learners }`);
  }
  const ids = [...conf.peers, ...conf.learners].map((id) => peerIdOf(id, what));
  if (ids.length === 0) throw new RaftError("EINVAL", `${what} names no peer; give at least one peer of the group`);
  return conf;
}

/** Ids given as an array or as a comma-separated list; learner operations accept the /learner suffix. */
function idsOf(ids: readonly NodeId[] | string, what: string, { learners, allowEmpty }: { learners: boolean; allowEmpty: boolean }): NodeId[] {
  if (typeof ids === "string") {
    if (!learners) return parsePeerIds(ids, { what });
    const list = parsePeerList(ids, { what, allowEmpty });
    return [...list.peers, ...list.learners];
  }
  if (!Array.isArray(ids)) throw new RaftError("EINVAL", `${what} must be an array of peer ids or a comma-separated list`);
  if (ids.length === 0 && !allowEmpty) throw new RaftError("EINVAL", `${what} is empty; name at least one peer`);
  ids.forEach((id) => peerIdOf(id, what));
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
  if (repeated !== undefined) throw new RaftError("EINVAL", `${what} lists ${repeated} twice`);
  return [...ids];
}
