/**
 * Membership changes as SOFAJraft's Node offers them (addPeer, changePeers,
 * addLearners, ...), each turned into the core's whole-configuration target,
 * and the requests waiting until the resulting configuration is committed.
 */
import type { ConfChangeTarget } from "../core/configuration.js";
import type { ConfChangeResult } from "../core/ready.js";
import type { ConfState, NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import { parsePeerId } from "../transport/peer-address.js";

export type MembershipChange =
  | { readonly kind: "addPeer" | "removePeer"; readonly peer: NodeId }
  | { readonly kind: "changePeers"; readonly voters: readonly NodeId[] }
  | { readonly kind: "addLearners" | "removeLearners" | "resetLearners"; readonly learners: readonly NodeId[] };

/** The configuration `change` asks for, from the current (non-joint) one. */
export function membershipTarget(current: ConfState, change: MembershipChange): ConfChangeTarget {
  const voters = new Set(current.voters);
  const learners = new Set(current.learners);
  const ids = "peer" in change ? [change.peer] : "voters" in change ? change.voters : change.learners;
  if (!Array.isArray(ids)) throw new RaftError("EINVAL", `${change.kind} needs an array of peer ids`);
  for (const id of ids) {
    if (typeof id !== "string") throw new RaftError("EINVAL", `${change.kind}: peer ids are strings of the form host:port[:idx[:priority]], got ${typeof id}`);
    parsePeerId(id);
  }
  switch (change.kind) {
    case "addPeer":
      voters.add(change.peer);
      learners.delete(change.peer); // adding a learner as a voter promotes it
      break;
    case "removePeer":
      if (!voters.has(change.peer)) throw new RaftError("EINVAL", `${change.peer} is not a voter of the current configuration (${[...voters].join(", ")})`);
      voters.delete(change.peer);
      break;
    case "changePeers":
      voters.clear();
      for (const id of change.voters) {
        voters.add(id);
        learners.delete(id); // a learner named as a voter is promoted
      }
      break;
    case "addLearners":
      for (const id of change.learners) {
        if (voters.has(id)) throw new RaftError("EINVAL", `${id} is a voter; remove it first (removePeer) to make it a learner`);
        learners.add(id);
      }
      break;
    case "removeLearners":
      for (const id of change.learners) learners.delete(id);
      break;
    case "resetLearners":
      learners.clear();
      for (const id of change.learners) {
        if (voters.has(id)) throw new RaftError("EINVAL", `${id} is a voter; remove it first (removePeer) to make it a learner`);
        learners.add(id);
      }
      break;
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

interface Change {
  readonly requestId: string;
  readonly deadlineMs: number;
  /** The configuration entry once appended, and its term; -1 while new voters catch up. */
  entryIndex: number;
  entryTerm: number;
  readonly resolve: (conf: ConfState) => void;
  readonly reject: (error: unknown) => void;
}

/** Membership requests in progress. The core runs one change at a time, so a handful is plenty. */
export class PendingConfChanges {
  private readonly byId = new Map<string, Change>();
  private sequence = 0;

  constructor(
    private readonly limit: number,
    private readonly idPrefix: string,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  isFull(): boolean {
    return this.byId.size >= this.limit;
  }

  add(deadlineMs: number): { requestId: string; promise: Promise<ConfState> } {
    const requestId = `${this.idPrefix}:${this.sequence++}`;
    const promise = new Promise<ConfState>((resolve, reject) => {
      this.byId.set(requestId, { requestId, deadlineMs, entryIndex: -1, entryTerm: -1, resolve, reject });
    });
    return { requestId, promise };
  }

  fail(requestId: string, error: unknown): void {
    const change = this.byId.get(requestId);
    if (change !== undefined) this.finish(change, error, null);
  }

  onResult(result: ConfChangeResult, termAt: (index: number) => number | undefined): void {
    const change = this.byId.get(result.requestId);
    if (change === undefined) return;
    if (result.error !== null) {
      this.finish(change, new RaftError(result.error, result.message ?? "the membership change failed"), null);
      return;
    }
    const term = termAt(result.index);
    if (term === undefined) {
      this.finish(change, new RaftError("ESTEPPEDDOWN", "leadership changed right after the configuration entry was appended; check the membership and retry"), null);
      return;
    }
    change.entryIndex = result.index;
    change.entryTerm = term;
  }

  /** Any entry applied: a change whose entry was replaced by another leader's fails. */
  entryApplied(index: number, term: number): void {
    for (const change of this.byId.values()) {
      if (change.entryIndex === index && change.entryTerm !== term) {
        this.finish(change, new RaftError("ESTEPPEDDOWN", `leadership changed and the configuration entry at index ${index} was replaced; check the membership and retry`), null);
      }
    }
  }

  /** A configuration entry was applied: changes it completes (the final, non-joint configuration) resolve. */
  configApplied(index: number, conf: ConfState): void {
    if (conf.outgoing.length > 0) return; // joint: the leader leaves it by itself with a later entry
    for (const change of this.byId.values()) {
      if (change.entryIndex >= 0 && change.entryIndex <= index) this.finish(change, null, conf);
    }
  }

  /** A snapshot from the leader covered `index`: changes whose entry it covers have an unknown fate. */
  failThrough(index: number): void {
    for (const change of this.byId.values()) {
      if (change.entryIndex >= 0 && change.entryIndex <= index) {
        this.finish(change, new RaftError("ESTEPPEDDOWN", "a snapshot from the leader replaced the log; check the membership"), null);
      }
    }
  }

  expire(nowMs: number): void {
    for (const change of this.byId.values()) {
      if (change.deadlineMs > nowMs) return;
      const phase = change.entryIndex < 0 ? "new voters did not catch up" : "the new configuration was not committed";
      this.finish(change, new RaftError("ETIMEDOUT", `${phase} in time; the change may still complete, check the membership`), null);
    }
  }

  failAll(error: RaftError): void {
    for (const change of [...this.byId.values()]) this.finish(change, error, null);
  }

  private finish(change: Change, error: unknown, conf: ConfState | null): void {
    if (!this.byId.delete(change.requestId)) return;
    if (error === null) change.resolve(conf!);
    else change.reject(error);
  }
}
