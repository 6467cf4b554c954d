/**
 * The CLI service's requests and answers (membership, leadership, snapshots),
 * as JSON inside the transport's request frames: rare, small, and easy to read
 * in a capture. Every field of decoded input is checked: a malformed request
 * is answered EINVAL with what was wrong, a malformed answer is ECORRUPT.
 */
import type { NodeId } from "../core/types.js";
import { RaftError, type RaftErrorCode } from "../errors.js";
import { parsePeerId } from "../transport/peer-address.js";
import { MAX_NAME_BYTES } from "../transport/protocol.js";

/** The transport service name: one handler per transport serves every local group. */
export const CLI_SERVICE = "cli";
/** Requests and answers are a few peer ids; anything near this is not ours. */
export const MAX_CLI_PAYLOAD_BYTES = 1024 * 1024;
/** Peer ids in one list; a bound against lists made up by a bad client. */
export const MAX_CLI_PEERS = 1024;

/** A configuration as SOFAJraft's Configuration holds it: voters ("peers") and learners. */
export interface PeerList {
  readonly peers: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export type CliMembershipChange =
  | { readonly kind: "addPeer" | "removePeer" | "learner2Follower"; readonly peer: NodeId }
  | { readonly kind: "changePeers"; readonly peers: readonly NodeId[] }
  | { readonly kind: "addLearners" | "removeLearners" | "resetLearners"; readonly learners: readonly NodeId[] };

/** What each operation carries besides its name and group. */
export interface CliRequestBodies {
  getLeader: object;
  getConfiguration: { readonly onlyAlive: boolean };
  changeMembership: { readonly change: CliMembershipChange };
  /** null: the most up-to-date voter. */
  transferLeader: { readonly target: NodeId | null };
  snapshot: object;
  /** Forced, on the named peer only (UNSAFE recovery when a majority is lost): these become the voters. */
  resetPeer: { readonly peers: readonly NodeId[] };
}

export type CliOp = keyof CliRequestBodies;

interface Addressed {
  readonly groupId: string;
  /** The local peer that should answer; omitted: the group's leader here, else any local peer of it. */
  readonly peerId?: NodeId;
}

export type CliRequestOf<Op extends CliOp> = Addressed & { readonly op: Op } & CliRequestBodies[Op];
export type CliRequest = { [Op in CliOp]: CliRequestOf<Op> }[CliOp];

export interface CliAnswers {
  /** Any peer: whom it follows (null: it knows no leader), in which term. */
  getLeader: { readonly leaderId: NodeId | null; readonly term: number };
  /** On the leader. */
  getConfiguration: PeerList;
  /** On the leader, once the new configuration is committed. */
  changeMembership: { readonly before: PeerList; readonly after: PeerList };
  /** On the leader, once the transfer started: `leaderId` is that (old) leader. */
  transferLeader: { readonly leaderId: NodeId };
  /** On the named peer: the snapshot saved, or null when nothing was applied since the last one. */
  snapshot: { readonly snapshot: { readonly index: number; readonly term: number } | null };
  /** On the named peer: its configuration once forced. */
  resetPeer: PeerList;
}

const CHANGE_KINDS: Record<CliMembershipChange["kind"], "peer" | "peers" | "learners"> = {
  addPeer: "peer",
  removePeer: "peer",
  learner2Follower: "peer",
  changePeers: "peers",
  addLearners: "learners",
  removeLearners: "learners",
  resetLearners: "learners",
};
const OPS: ReadonlySet<string> = new Set<CliOp>(["getLeader", "getConfiguration", "changeMembership", "transferLeader", "snapshot", "resetPeer"]);

const encoder = new TextEncoder();

export function encodeCliRequest(request: CliRequest): Uint8Array {
  return encoder.encode(JSON.stringify(request));
}

export function encodeCliAnswer<Op extends CliOp>(answer: CliAnswers[Op]): Uint8Array {
  return encoder.encode(JSON.stringify(answer));
}

/** A request from the network; throws EINVAL saying what is wrong. */
export function decodeCliRequest(payload: Uint8Array): CliRequest {
  const check = new Checker("EINVAL", "malformed CLI request");
  const body = check.object(parseJson(payload, check), "the request");
  const op = check.string(body, "op");
  if (!OPS.has(op)) check.fail(`unknown op "${op.slice(0, 40)}" (known: ${[...OPS].join(", ")}); is the server an older tsraft?`);
  const groupId = check.string(body, "groupId");
  if (groupId.length === 0 || Buffer.byteLength(groupId) > MAX_NAME_BYTES) check.fail(`groupId must be 1 to ${MAX_NAME_BYTES} bytes`);
  const peerId = body.peerId === undefined ? undefined : check.peerId(body.peerId, "peerId");
  const addressed: Addressed = peerId === undefined ? { groupId } : { groupId, peerId };
  switch (op as CliOp) {
    case "getLeader":
      check.onlyFields(body, ["op", "groupId", "peerId"]);
      return { ...addressed, op: "getLeader" };
    case "snapshot":
      check.onlyFields(body, ["op", "groupId", "peerId"]);
      return { ...addressed, op: "snapshot" };
    case "getConfiguration":
      check.onlyFields(body, ["op", "groupId", "peerId", "onlyAlive"]);
      if (typeof body.onlyAlive !== "boolean") check.fail(`onlyAlive must be true or false, got ${describe(body.onlyAlive)}`);
      return { ...addressed, op: "getConfiguration", onlyAlive: body.onlyAlive as boolean };
    case "transferLeader":
      check.onlyFields(body, ["op", "groupId", "peerId", "target"]);
      return { ...addressed, op: "transferLeader", target: body.target === null ? null : check.peerId(body.target, "target") };
    case "changeMembership":
      check.onlyFields(body, ["op", "groupId", "peerId", "change"]);
      return { ...addressed, op: "changeMembership", change: decodeChange(check.object(body.change, "change"), check) };
    case "resetPeer": {
      check.onlyFields(body, ["op", "groupId", "peerId", "peers"]);
      if (peerId === undefined) check.fail("resetPeer needs the peerId to reset: it acts on that one peer only");
      const peers = check.peerIds(body.peers, "peers");
      if (peers.length === 0) check.fail("resetPeer needs at least one voter in peers");
      return { ...addressed, op: "resetPeer", peers };
    }
  }
}

/** An answer from `from` to a request `op`; throws ECORRUPT saying what is wrong. */
export function decodeCliAnswer<Op extends CliOp>(op: Op, payload: Uint8Array, from: string): CliAnswers[Op] {
  const check = new Checker("ECORRUPT", `malformed answer to CLI ${op} from ${from}`);
  const body = check.object(parseJson(payload, check), "the answer");
  const answers: { [K in CliOp]: () => CliAnswers[K] } = {
    getLeader: () => {
      check.onlyFields(body, ["leaderId", "term"]);
      const term = body.term;
      if (typeof term !== "number" || !Number.isSafeInteger(term) || term < 0) check.fail(`term must be a non-negative integer, got ${describe(term)}`);
      return { leaderId: body.leaderId === null ? null : check.peerId(body.leaderId, "leaderId"), term: term as number };
    },
    getConfiguration: () => decodePeerList(body, "the configuration", check),
    resetPeer: () => decodePeerList(body, "the configuration", check),
    changeMembership: () => {
      check.onlyFields(body, ["before", "after"]);
      return { before: decodePeerList(check.object(body.before, "before"), "before", check), after: decodePeerList(check.object(body.after, "after"), "after", check) };
    },
    transferLeader: () => {
      check.onlyFields(body, ["leaderId"]);
      return { leaderId: check.peerId(body.leaderId, "leaderId") };
    },
    snapshot: () => {
      check.onlyFields(body, ["snapshot"]);
      if (body.snapshot === null) return { snapshot: null };
      const meta = check.object(body.snapshot, "snapshot");
      check.onlyFields(meta, ["index", "term"]);
      const { index, term } = meta;
      if (![index, term].every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0)) check.fail("snapshot index and term must be non-negative integers");
      return { snapshot: { index: index as number, term: term as number } };
    },
  };
  return answers[op]();
}

function decodeChange(change: Record<string, unknown>, check: Checker): CliMembershipChange {
  const kind = check.string(change, "kind", "change.kind");
  if (!Object.hasOwn(CHANGE_KINDS, kind)) check.fail(`unknown change.kind "${kind.slice(0, 40)}" (known: ${Object.keys(CHANGE_KINDS).join(", ")})`);
  const field = CHANGE_KINDS[kind as CliMembershipChange["kind"]];
  check.onlyFields(change, ["kind", field]);
  if (field === "peer") return { kind: kind as "addPeer" | "removePeer" | "learner2Follower", peer: check.peerId(change.peer, "change.peer") };
  const ids = check.peerIds(change[field], `change.${field}`);
  return field === "peers" ? { kind: "changePeers", peers: ids } : { kind: kind as "addLearners" | "removeLearners" | "resetLearners", learners: ids };
}

function decodePeerList(body: Record<string, unknown>, what: string, check: Checker): PeerList {
  check.onlyFields(body, ["peers", "learners"]);
  return { peers: check.peerIds(body.peers, `${what}.peers`), learners: check.peerIds(body.learners, `${what}.learners`) };
}

function parseJson(payload: Uint8Array, check: Checker): unknown {
  if (payload.byteLength > MAX_CLI_PAYLOAD_BYTES) check.fail(`${payload.byteLength} bytes, above the limit of ${MAX_CLI_PAYLOAD_BYTES}`);
  try {
    return JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8"));
  } catch (error) {
    return check.fail(`not JSON (${(error as Error).message})`);
  }
}

/** Field checks that throw one error code with a common prefix. */
class Checker {
  constructor(
    private readonly code: RaftErrorCode,
    private readonly prefix: string,
  ) {}

  fail(why: string): never {
    throw new RaftError(this.code, `${this.prefix}: ${why}`);
  }

  object(value: unknown, what: string): Record<string, unknown> {
    if (value === null || typeof value !== "object" || Array.isArray(value)) this.fail(`${what} must be a JSON object, got ${describe(value)}`);
    return value as Record<string, unknown>;
  }

  onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
    const extra = Object.keys(body).find((key) => !allowed.includes(key));
    if (extra !== undefined) this.fail(`unexpected field "${extra.slice(0, 40)}" (expected ${allowed.join(", ")}); do client and server run the same tsraft version?`);
  }

  string(body: Record<string, unknown>, key: string, what = key): string {
    const value = body[key];
    if (typeof value !== "string") this.fail(`${what} must be a string, got ${describe(value)}`);
    return value as string;
  }

  peerId(value: unknown, what: string): NodeId {
    if (typeof value !== "string") this.fail(`${what} must be a peer id string, got ${describe(value)}`);
    try {
      parsePeerId(value as string);
    } catch (error) {
      this.fail(`${what}: ${(error as RaftError).message.replace(/^EINVAL: /, "")}`);
    }
    return value as string;
  }

  peerIds(value: unknown, what: string): NodeId[] {
    if (!Array.isArray(value)) this.fail(`${what} must be an array of peer ids, got ${describe(value)}`);
    const ids = value as unknown[];
    if (ids.length > MAX_CLI_PEERS) this.fail(`${what} has ${ids.length} peer ids, above the limit of ${MAX_CLI_PEERS}`);
    const seen = new Set<string>();
    return ids.map((id, i) => {
      const peer = this.peerId(id, `${what}[${i}]`);
      if (seen.has(peer)) this.fail(`${what} lists ${peer} twice`);
      seen.add(peer);
      return peer;
    });
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? `"${value.slice(0, 40)}"` : typeof value;
}
