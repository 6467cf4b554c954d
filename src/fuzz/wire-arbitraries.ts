/** Well-formed values of the transport: peer ids and names, Raft messages of every type, protocol frames. */
import fc from "fast-check";
import type { Message } from "../core/messages.js";
import { EntryType, type Entry } from "../core/types.js";
import { RAFT_ERROR_CODES, RaftError } from "../errors.js";
import { PROTOCOL_MAGIC, type Hello, type ResponseBody } from "../transport/protocol.js";
import { NONCE_BYTES, PROOF_BYTES } from "../transport/cluster-auth.js";

/** Indexes and terms: small ones (the common case) and ones near 2^53 (the edge). */
export const u53 = fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const i53 = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }));

/** Peer ids as they are (`host:port[:idx[:priority]]`). */
export const peerId: fc.Arbitrary<string> = fc
  .record({
    host: fc.oneof(fc.ipV4(), fc.domain().filter((host) => host.length <= 253)),
    port: fc.integer({ min: 1, max: 65535 }),
    idx: fc.option(fc.nat({ max: 99 }), { nil: undefined }),
    priority: fc.option(fc.integer({ min: -1, max: 1000 }), { nil: undefined }),
  })
  .map(({ host, port, idx, priority }) => {
    const parts: (string | number)[] = [host, port];
    if (idx !== undefined) parts.push(idx, ...(priority !== undefined ? [priority] : []));
    return parts.join(":");
  });

/** Any non-empty text of at most 256 UTF-8 bytes (a code point is at most 4). */
export const label = fc.string({ unit: "binary", minLength: 1, maxLength: 64 });
/** What the codecs carry as a node id: real peer ids, or any label (the codec does not parse them). */
const nodeId = fc.oneof(peerId, label);

const envelope = fc.record({ from: nodeId, to: nodeId, term: u53 });
const ids = fc.array(nodeId, { maxLength: 4 });

/** Entries whose terms never go down and never pass the leader's: what a correct leader sends. */
const append = fc
  .record({
    env: envelope,
    prevIndex: u53,
    commit: u53,
    entries: fc.array(fc.record({ type: fc.constantFrom(EntryType.Normal, EntryType.Config, EntryType.Noop), data: fc.uint8Array({ maxLength: 48 }), step: fc.boolean() }), { maxLength: 6 }),
  })
  .map(({ env, prevIndex, commit, entries }): Message => {
    const first = Math.min(prevIndex, Number.MAX_SAFE_INTEGER - entries.length);
    let term = Math.floor(env.term / 2);
    const prevTerm = term;
    const list: Entry[] = entries.map((entry, i) => {
      if (entry.step) term = Math.min(env.term, term + 1);
      return { index: first + 1 + i, term, type: entry.type, data: entry.data };
    });
    return { type: "append", ...env, prevIndex: first, prevTerm, commit, entries: list };
  });

export const raftMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.tuple(envelope, u53, u53).map(([e, lastIndex, lastTerm]): Message => ({ type: "preVote", ...e, lastIndex, lastTerm })),
  fc.tuple(envelope, u53, u53, fc.boolean()).map(([e, lastIndex, lastTerm, force]): Message => ({ type: "vote", ...e, lastIndex, lastTerm, force })),
  fc.tuple(envelope, fc.boolean()).map(([e, reject]): Message => ({ type: "preVoteResp", ...e, reject })),
  fc.tuple(envelope, fc.boolean()).map(([e, reject]): Message => ({ type: "voteResp", ...e, reject })),
  append,
  fc.tuple(envelope, fc.boolean(), u53, u53, u53).map(([e, reject, index, hintIndex, hintTerm]): Message => ({ type: "appendResp", ...e, reject, index, hintIndex, hintTerm })),
  fc.tuple(envelope, u53, u53, i53, fc.boolean()).map(([e, commit, readSeq, sentTick, quiesce]): Message => ({ type: "heartbeat", ...e, commit, readSeq, sentTick, quiesce })),
  fc.tuple(envelope, u53, i53).map(([e, readSeq, sentTick]): Message => ({ type: "heartbeatResp", ...e, readSeq, sentTick })),
  fc.tuple(envelope, u53, u53, ids, ids, ids).map(([e, index, term, voters, outgoing, learners]): Message => ({ type: "snapshot", ...e, snapshot: { index, term, conf: { voters, outgoing, learners } } })),
  fc.tuple(envelope, u53, fc.boolean()).map(([e, index, reject]): Message => ({ type: "snapshotStatus", ...e, index, reject })),
  envelope.map((e): Message => ({ type: "timeoutNow", ...e })),
  fc.tuple(envelope, fc.string({ unit: "binary", maxLength: 24 })).map(([e, context]): Message => ({ type: "readIndex", ...e, context })),
  fc
    .tuple(envelope, fc.string({ unit: "binary", maxLength: 24 }), fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }), fc.option(fc.constantFrom(...RAFT_ERROR_CODES), { nil: null }))
    .map(([e, context, index, error]): Message => ({ type: "readIndexResp", ...e, context, index, error })),
);

/** Short enough that the protocol's 2000-character cut never splits it. */
const errorText = fc.string({ unit: "binary", minLength: 1, maxLength: 200 });
const raftError = fc
  .tuple(fc.constantFrom(...RAFT_ERROR_CODES), errorText, fc.option(label, { nil: null }))
  .map(([code, message, leaderHint]) => new RaftError(code, message, leaderHint));

/** Cluster names and sender addresses may be empty in a handshake. */
const optionalLabel = fc.string({ unit: "binary", maxLength: 64 });

/** One frame of the transport protocol, as its encoder takes it. */
export type ProtocolFrame =
  | { readonly kind: "hello"; readonly hello: Hello }
  | { readonly kind: "helloOk" }
  | { readonly kind: "error"; readonly error: RaftError }
  | { readonly kind: "raft"; readonly groupId: string; readonly message: Message }
  | { readonly kind: "request"; readonly requestId: number; readonly service: string; readonly payload: Uint8Array }
  | { readonly kind: "response"; readonly response: ResponseBody }
  | { readonly kind: "authChallenge"; readonly acceptorNonce: Buffer }
  | { readonly kind: "authProof"; readonly dialerNonce: Buffer; readonly proof: Buffer };

/** Frames of the kinds with a body decoder. */
const nonce = fc.uint8Array({ minLength: NONCE_BYTES, maxLength: NONCE_BYTES }).map((bytes) => Buffer.from(bytes));
const proof = fc.uint8Array({ minLength: PROOF_BYTES, maxLength: PROOF_BYTES }).map((bytes) => Buffer.from(bytes));

export const protocolFrame: fc.Arbitrary<ProtocolFrame> = fc.oneof(
  fc
    .record({ version: fc.oneof(fc.constant(1), fc.nat()), clusterName: optionalLabel, senderAddress: fc.oneof(peerId, optionalLabel) })
    .map((hello): ProtocolFrame => ({ kind: "hello", hello: { magic: PROTOCOL_MAGIC, ...hello } })),
  fc.constant<ProtocolFrame>({ kind: "helloOk" }),
  raftError.map((error): ProtocolFrame => ({ kind: "error", error })),
  fc.tuple(label, raftMessage).map(([groupId, message]): ProtocolFrame => ({ kind: "raft", groupId, message })),
  fc.tuple(u53, label, fc.uint8Array({ maxLength: 64 })).map(([requestId, service, payload]): ProtocolFrame => ({ kind: "request", requestId, service, payload })),
  fc
    .tuple(u53, fc.oneof(fc.uint8Array({ maxLength: 64 }), raftError))
    .map(([requestId, outcome]): ProtocolFrame => ({
      kind: "response",
      response: outcome instanceof RaftError ? { requestId, ok: false, error: outcome } : { requestId, ok: true, payload: Buffer.from(outcome) },
    })),
  nonce.map((acceptorNonce): ProtocolFrame => ({ kind: "authChallenge", acceptorNonce })),
  fc.tuple(nonce, proof).map(([dialerNonce, proof]): ProtocolFrame => ({ kind: "authProof", dialerNonce, proof })),
);
