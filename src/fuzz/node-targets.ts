/**
 * The node's request decoders: the CLI service's requests (EINVAL) and answers
 * (ECORRUPT), the snapshot copy's requests, the snapshot manifest a leader
 * sends, and the configuration a Config entry carries.
 */
import { crc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { decodeConfState, encodeConfState } from "../core/configuration.js";
import type { ConfState } from "../core/types.js";
import { decodeCliAnswer, decodeCliRequest, encodeCliAnswer, encodeCliRequest, type CliAnswers, type CliMembershipChange, type CliOp, type CliRequest, type PeerList } from "../node/cli-protocol.js";
import { decodeChunkRequest, decodeManifestRequest, encodeChunkRequest, encodeManifestRequest, type ChunkRequest, type ManifestRequest } from "../node/snapshot-copy-codec.js";
import { decodeManifest, encodeManifest, type SnapshotManifest } from "../storage/snapshot-manifest.js";
import { asBuffer, byteCodecTarget, codecTarget, type FuzzTarget } from "./fuzz-target.js";
import { jsonMutator, randomBytes, resealingMutator, type Mutator } from "./mutations.js";
import { label, peerId, u53 } from "./wire-arbitraries.js";

const peerIds = fc.uniqueArray(peerId, { maxLength: 4 });
const peerList: fc.Arbitrary<PeerList> = fc.record({ peers: peerIds, learners: peerIds });

const change: fc.Arbitrary<CliMembershipChange> = fc.oneof(
  fc.record({ kind: fc.constantFrom("addPeer" as const, "removePeer" as const, "learner2Follower" as const), peer: peerId }),
  fc.record({ kind: fc.constant("changePeers" as const), peers: peerIds }),
  fc.record({ kind: fc.constantFrom("addLearners" as const, "removeLearners" as const, "resetLearners" as const), learners: peerIds }),
);

const cliRequest: fc.Arbitrary<CliRequest> = fc
  .tuple(
    label,
    fc.option(peerId, { nil: undefined }),
    fc.oneof(
      fc.constant({ op: "getLeader" as const }),
      fc.constant({ op: "snapshot" as const }),
      fc.record({ op: fc.constant("getConfiguration" as const), onlyAlive: fc.boolean() }),
      fc.record({ op: fc.constant("transferLeader" as const), target: fc.option(peerId, { nil: null }) }),
      fc.record({ op: fc.constant("changeMembership" as const), change }),
    ),
  )
  .map(([groupId, named, body]) => ({ groupId, ...(named === undefined ? {} : { peerId: named }), ...body }) as CliRequest);
const resetPeer: fc.Arbitrary<CliRequest> = fc
  .tuple(label, peerId, fc.uniqueArray(peerId, { minLength: 1, maxLength: 4 }))
  .map(([groupId, named, peers]) => ({ op: "resetPeer", groupId, peerId: named, peers }));

export function cliRequestTarget(): FuzzTarget {
  return codecTarget({
    name: "cli request",
    valid: fc.oneof(cliRequest, resetPeer),
    encode: (request) => asBuffer(encodeCliRequest(request)),
    decode: decodeCliRequest,
    codes: ["EINVAL"],
    mutator: jsonMutator,
    random: fc.oneof(randomBytes(), fc.json().map((text) => Buffer.from(text))),
    sizeOf: (input) => input.length,
  });
}

/** An answer and the op it answers, which decodeCliAnswer takes beside the bytes. */
type CliAnswer = { [Op in CliOp]: { readonly op: Op; readonly answer: CliAnswers[Op] } }[CliOp];

const CLI_OPS: readonly CliOp[] = ["getLeader", "getConfiguration", "changeMembership", "transferLeader", "snapshot", "resetPeer"];
const cliAnswer: fc.Arbitrary<CliAnswer> = fc.oneof(
  fc.record({ op: fc.constant("getLeader" as const), answer: fc.record({ leaderId: fc.option(peerId, { nil: null }), term: u53 }) }),
  fc.record({ op: fc.constantFrom("getConfiguration" as const, "resetPeer" as const), answer: peerList }),
  fc.record({ op: fc.constant("changeMembership" as const), answer: fc.record({ before: peerList, after: peerList }) }),
  fc.record({ op: fc.constant("transferLeader" as const), answer: fc.record({ leaderId: peerId }) }),
  fc.record({ op: fc.constant("snapshot" as const), answer: fc.record({ snapshot: fc.option(fc.record({ index: u53, term: u53 }), { nil: null }) }) }),
);

/** Damage to the answer's JSON, and sometimes another op named: an answer paired with the wrong request. */
const cliAnswerMutator: Mutator<Buffer> = {
  mutations: fc.tuple(fc.option(fc.nat({ max: 255 }), { nil: undefined }), jsonMutator.mutations),
  apply(input, mutations, donor) {
    const [otherOp, jsonMutations] = mutations as [number | undefined, readonly unknown[]];
    return Buffer.concat([Buffer.of(otherOp ?? input[0]!), jsonMutator.apply(input.subarray(1), jsonMutations, donor.subarray(1))]);
  },
};

export function cliAnswerTarget(): FuzzTarget {
  // On the fuzzed wire a byte naming the op comes first: decodeCliAnswer takes the op beside the bytes.
  return codecTarget<CliAnswer, Buffer>({
    name: "cli answer",
    valid: cliAnswer,
    encode: ({ op, answer }) => Buffer.concat([Buffer.of(CLI_OPS.indexOf(op)), encodeCliAnswer(answer)]),
    decode(input) {
      const op = CLI_OPS[(input[0] ?? 0) % CLI_OPS.length]!;
      return { op, answer: decodeCliAnswer(op, input.subarray(1), "127.0.0.1:8081") } as CliAnswer;
    },
    codes: ["ECORRUPT"],
    mutator: cliAnswerMutator,
    random: randomBytes(),
    sizeOf: (input) => input.length,
  });
}

const snapshotIndex = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
/** Snapshot file names are at most 255 bytes: 63 code points are at most 252. */
const fileName = fc.string({ unit: "binary", minLength: 1, maxLength: 63 });

export function manifestRequestTarget(): FuzzTarget {
  return byteCodecTarget<ManifestRequest>({
    name: "snapshot manifest request",
    valid: fc.record({ groupId: label, index: snapshotIndex }),
    encode: (request) => asBuffer(encodeManifestRequest(request)),
    decode: decodeManifestRequest,
    // Truncation is the reader's ECORRUPT, a bad field the codec's EINVAL.
    codes: ["ECORRUPT", "EINVAL"],
  });
}

export function chunkRequestTarget(): FuzzTarget {
  return byteCodecTarget<ChunkRequest>({
    name: "snapshot chunk request",
    valid: fc.record({ groupId: label, index: snapshotIndex, fileName, offset: u53, lengthBytes: fc.nat({ max: 0xffff_ffff }) }),
    encode: (request) => asBuffer(encodeChunkRequest(request)),
    decode: decodeChunkRequest,
    codes: ["ECORRUPT", "EINVAL"],
  });
}

const ENVELOPE_HEADER_BYTES = 16;

/** Damage to a checksummed envelope's JSON payload, the envelope then made whole again: only the manifest's own checks stand against it. */
const envelopedJsonMutator = resealingMutator(
  jsonMutator,
  (input) => input.subarray(ENVELOPE_HEADER_BYTES),
  (input, payload) => {
    const header = Buffer.from(input.subarray(0, ENVELOPE_HEADER_BYTES));
    header.writeUInt32LE(payload.length, 8);
    header.writeUInt32LE(crc32c(payload, crc32c(header.subarray(0, 12))), 12);
    return Buffer.concat([header, payload]);
  },
);

const manifestFileName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/).filter((name) => !name.includes(".."));
const snapshotManifest: fc.Arbitrary<SnapshotManifest> = fc.record({
  meta: fc.record({ index: snapshotIndex, term: snapshotIndex, conf: fc.record({ voters: peerIds, outgoing: peerIds, learners: peerIds }) }),
  files: fc
    .uniqueArray(fc.record({ name: manifestFileName, sizeBytes: u53, crc32c: fc.nat({ max: 0xffff_ffff }) }), { selector: (file) => file.name, maxLength: 4 })
    .map((files) => files.sort((a, b) => (a.name < b.name ? -1 : 1))),
});

export function snapshotManifestTarget(): FuzzTarget {
  return codecTarget({
    name: "snapshot manifest",
    valid: snapshotManifest,
    encode: (manifest) => asBuffer(encodeManifest(manifest)),
    decode: (input) => decodeManifest(input, "the manifest from 127.0.0.1:8081"),
    codes: ["ECORRUPT"],
    mutator: envelopedJsonMutator,
    random: randomBytes(),
    sizeOf: (input) => input.length,
  });
}

export function confStateTarget(): FuzzTarget {
  return codecTarget<ConfState, Buffer>({
    name: "configuration entry",
    valid: fc.record({ voters: peerIds, outgoing: peerIds, learners: peerIds }),
    encode: (conf) => asBuffer(encodeConfState(conf)),
    decode: decodeConfState,
    codes: ["ECORRUPT"],
    mutator: jsonMutator,
    random: fc.oneof(randomBytes(), fc.json().map((text) => Buffer.from(text))),
    sizeOf: (input) => input.length,
  });
}
