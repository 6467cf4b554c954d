/**
 * Server lists as SOFAJraft's Configuration writes them: comma-separated peer
 * ids `host:port[:idx[:priority]]`, a learner marked by a `/learner` suffix,
 * for example "10.0.0.1:8081,10.0.0.2:8081,10.0.0.3:8081/learner".
 * Ids are kept as written: the group compares them as strings.
 */
import type { NodeId } from "../core/types.js";
import { RaftError } from "../errors.js";
import { MAX_CLI_PEERS, type PeerList } from "../node/cli-protocol.js";
import { parsePeerId } from "../transport/peer-address.js";

export type { PeerList } from "../node/cli-protocol.js";

export const LEARNER_SUFFIX = "/learner";
export const PEER_LIST_FORM =
  "comma-separated peer ids host:port[:idx[:priority]], learners marked with /learner (for example 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083/learner)";

export interface PeerListOptions {
  /** Names the list in errors (say, "--conf"). Default "server list". */
  readonly what?: string;
  /** Accept "" as no peers at all (resetting learners to none). Default false. */
  readonly allowEmpty?: boolean;
}

/** Parses a server list; EINVAL shows the expected form and which entry is wrong. */
export function parsePeerList(text: string, options: PeerListOptions = {}): PeerList {
  const what = options.what ?? "server list";
  const fail = (why: string): never => {
    throw new RaftError("EINVAL", `${what} "${String(text).slice(0, 300)}" is not a server list (${PEER_LIST_FORM}): ${why}`);
  };
  if (typeof text !== "string") return fail(`expected a string, got ${typeof text}`);
  if (text.trim().length === 0) {
    if (options.allowEmpty) return { peers: [], learners: [] };
    return fail("it is empty");
  }
  const entries = text.split(",").map((entry) => entry.trim());
  if (entries.length > MAX_CLI_PEERS) fail(`it has ${entries.length} entries, above the limit of ${MAX_CLI_PEERS}`);
  const peers: NodeId[] = [];
  const learners: NodeId[] = [];
  const seen = new Set<NodeId>();
  entries.forEach((entry, i) => {
    if (entry.length === 0) fail(`entry ${i + 1} is empty (a stray comma?)`);
    const slash = entry.indexOf("/");
    const learner = slash >= 0;
    if (learner && entry.slice(slash) !== LEARNER_SUFFIX) fail(`"${entry.slice(slash, slash + 40)}" in entry ${i + 1} is not a known suffix; the only one is ${LEARNER_SUFFIX}`);
    const id = learner ? entry.slice(0, slash) : entry;
    try {
      parsePeerId(id);
    } catch (error) {
      fail(`entry ${i + 1}: ${error instanceof RaftError ? error.message.replace(/^EINVAL: /, "") : String(error)}`);
    }
    if (seen.has(id)) fail(`${id} is listed twice`);
    seen.add(id);
    (learner ? learners : peers).push(id);
  });
  return { peers, learners };
}

/** The peers of a list in which learners make no sense (say, the voters of changePeers). */
export function parsePeerIds(text: string, options: PeerListOptions = {}): NodeId[] {
  const list = parsePeerList(text, options);
  if (list.learners.length > 0) {
    throw new RaftError("EINVAL", `${options.what ?? "the list"} names ${list.learners[0]}${LEARNER_SUFFIX}, but takes voters only; drop the ${LEARNER_SUFFIX} suffix or use the learner operations`);
  }
  return [...list.peers];
}

/** The list as SOFAJraft writes it: voters, then learners with their suffix. */
export function formatPeerList(list: PeerList): string {
  return [...list.peers, ...list.learners.map((id) => `${id}${LEARNER_SUFFIX}`)].join(",");
}

/** Every id of the list, voters first: where to look for a group's leader. */
export function allPeers(list: PeerList): NodeId[] {
  return [...new Set([...list.peers, ...list.learners])];
}
