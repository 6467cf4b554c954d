/**
 * The liveness phase. Once every fault is healed (no partition, no loss,
 * every member up) and clients are quiet, within a bounded time:
 * 1. a read started on every member is served — with no new writes to push
 *    the log along, so a follower the leader forgot to catch up shows here;
 * 2. a fresh proposal commits (which needs a leader);
 * 3. every member applies it.
 */
import type { NodeId } from "../core/types.js";
import { Violation } from "./checkers/violation.js";
import type { Clients } from "./clients.js";
import type { Cluster } from "./cluster.js";
import type { NetworkParams } from "./network.js";

export interface LivenessResult {
  /** Virtual time from the heal until every member served a read. */
  readonly readsAfterMs: number;
  /** Virtual time from the heal to the first acknowledged probe write. */
  readonly commitAfterMs: number;
  /** Virtual time from the heal until every member applied the probe. */
  readonly convergedAfterMs: number;
}

/** Heals the cluster: network as given (it should lose nothing), every member running. */
export function healAll(cluster: Cluster, network: NetworkParams): void {
  cluster.heal();
  cluster.network.params = { ...network, lossRate: 0 };
  for (const id of cluster.members()) cluster.restart(id);
  cluster.trace.note(cluster.queue.nowMs, "sim", `all healed; members ${cluster.members().join(",")}`);
}

/**
 * `stallMs` bounds the time without progress (a new commit, apply or append anywhere);
 * `capMs` bounds the whole phase. Progress extends the wait because seeds with
 * tiny flow-control limits may heal with a backlog that commits slowly but surely.
 */
export function checkLiveness(cluster: Cluster, clients: Clients, stallMs: number, capMs: number): LivenessResult {
  const startMs = cluster.queue.nowMs;
  const since = (): number => cluster.queue.nowMs - startMs;
  const sliceMs = cluster.tickMs * 10;
  let lastProgressMs = startMs;
  let lastMark = progressMark(cluster);
  const waitFor = (what: () => string, done: () => boolean): void => {
    while (!cluster.runUntilOr(done, Math.min(cluster.queue.nowMs + sliceMs, startMs + capMs))) {
      const mark = progressMark(cluster);
      if (mark !== lastMark) {
        lastMark = mark;
        lastProgressMs = cluster.queue.nowMs;
      }
      const stalled = cluster.queue.nowMs - lastProgressMs >= stallMs;
      if (stalled || since() >= capMs) {
        const why = stalled ? `nothing appended, committed or applied for ${stallMs} ms` : `still not done after ${capMs} ms`;
        throw new Violation("liveness", `${what()}: ${why} after healing (${since()} ms passed)\n${describeNodes(cluster)}`);
      }
    }
  };

  const unserved = readOnEveryMember(cluster);
  waitFor(() => `not every member served a read (${[...unserved].sort().join(", ")})`, () => unserved.size === 0);
  const readsAfterMs = since();

  const ackedIndex = proposeUntilAcked(cluster, clients);
  waitFor(() => "no proposal committed", () => ackedIndex() > 0);
  const commitAfterMs = since();

  const converged = (): boolean => cluster.members().every((id) => cluster.node(id).stateMachine.applied >= ackedIndex());
  waitFor(() => `members did not all apply index ${ackedIndex()}`, converged);
  return { readsAfterMs, commitAfterMs, convergedAfterMs: since() };
}

/**
 * Grows whenever any node commits, applies, or appends (a follower catching
 * up on a backlog of older terms makes progress before anything commits).
 */
function progressMark(cluster: Cluster): number {
  let mark = cluster.safety.highestCommitted;
  for (const node of cluster.allNodes()) mark += node.stateMachine.applied + node.log.lastIndex();
  return mark;
}

/**
 * Starts a read on each member, again after a refusal or failure, and after
 * an election timeout without an answer (a forwarded read request may be
 * dropped, e.g. when it reaches the leader with a stale term; clients time out).
 * A read answered with an index is not retried: the member must reach it.
 */
function readOnEveryMember(cluster: Cluster): Set<NodeId> {
  const waiting = new Set(cluster.members());
  const retryMs = cluster.tickMs * ((cluster.coreOptions.electionTicks ?? 10) * 2);
  const inFlight = new Map<NodeId, { context: string; sentMs: number }>();
  let seq = 0;
  cluster.onReadFinished((node, context, served) => {
    if (inFlight.get(node.id)?.context !== context) return;
    inFlight.delete(node.id);
    if (served) waiting.delete(node.id);
  });
  const attempt = (): void => {
    const members = new Set(cluster.members());
    for (const id of waiting) {
      // A pending membership change may still remove a node after the heal.
      if (!members.has(id)) {
        waiting.delete(id);
        continue;
      }
      const read = inFlight.get(id);
      const node = cluster.node(id);
      if (read && (node.readAnswered(read.context) || cluster.queue.nowMs - read.sentMs < retryMs)) continue;
      const context = `live-read-${id}-${++seq}`;
      // Registered first: a leader may serve the read before readIndex() returns.
      inFlight.set(id, { context, sentMs: cluster.queue.nowMs });
      if (node.readIndex(context) !== null) inFlight.delete(id);
    }
    if (waiting.size > 0) cluster.queue.after(cluster.tickMs, attempt);
  };
  attempt();
  return waiting;
}

/** Proposes through the leader, again whenever the last attempt has not committed within an election timeout. */
function proposeUntilAcked(cluster: Cluster, clients: Clients): () => number {
  const retryMs = cluster.tickMs * ((cluster.coreOptions.electionTicks ?? 10) + 1);
  let probe: { label: string; sentMs: number } | null = null;
  let ackedIndex = 0;
  let seq = 0;
  cluster.onAck((_node, label, index) => {
    if (probe !== null && label === probe.label) ackedIndex = index;
  });
  const attempt = (): void => {
    if (ackedIndex > 0) return;
    if (probe === null || cluster.queue.nowMs - probe.sentMs >= retryMs) {
      const leader = cluster.leader();
      const proposed = leader ? clients.propose(leader, `live-write-${++seq}`) : null;
      if (proposed) probe = { label: proposed.label, sentMs: cluster.queue.nowMs };
    }
    cluster.queue.after(cluster.tickMs, attempt);
  };
  attempt();
  return () => ackedIndex;
}

export function describeNodes(cluster: Cluster): string {
  const members = new Set(cluster.members());
  const lines: string[] = [];
  for (const node of cluster.allNodes()) {
    if (node.lifecycle === "new") continue;
    const tag = members.has(node.id) ? "member" : "not a member";
    if (!node.core) {
      lines.push(`  ${node.id} ${node.lifecycle} (${tag}) persisted term ${node.persistedHardState.term}, log to ${node.log.lastIndex()}`);
      continue;
    }
    const s = node.core.status();
    const progress = s.progress
      ? " progress " + Object.entries(s.progress).map(([id, p]) => `${id}:${p.state}/match ${p.match}/next ${p.next}`).join(" ")
      : "";
    lines.push(
      `  ${node.id} ${s.role} (${tag}) term ${s.term} leader ${s.leaderId ?? "-"} commit ${s.commit} applied ${node.stateMachine.applied} ` +
        `log [${s.firstIndex}, ${s.lastIndex}] voters=[${s.conf.voters.join(",")}]${s.conf.outgoing.length ? ` outgoing=[${s.conf.outgoing.join(",")}]` : ""} ` +
        `learners=[${s.conf.learners.join(",")}]${progress}`,
    );
  }
  return lines.join("\n");
}
