/**
 * The cluster secret's challenge-response, run inside the connection
 * handshake when the transport has a `clusterSecret` (with TLS, certificates
 * signed by the cluster CA authenticate the peers; a secret may be added):
 *
 *   dialer   -> Hello          magic, version, cluster name, sender address (as without a secret)
 *   acceptor -> AuthChallenge  the acceptor's nonce
 *   dialer   -> AuthProof      the dialer's nonce, HMAC-SHA256(secret, "dialer" transcript)
 *   acceptor -> HelloOk        HMAC-SHA256(secret, "acceptor" transcript)
 *
 * The transcript is the role, the Hello's fields and both nonces. A fresh
 * nonce from each side makes the other side's proof worthless on any other
 * connection (no replay); the role makes one side's proof worthless as the
 * other's (no reflection); the acceptor proves itself only to a dialer that
 * proved itself first, so strangers cannot use it to compute proofs. Nothing
 * but these frames is read before the proof is checked.
 *
 * This authenticates each connection; it does not encrypt it or protect it
 * from a man in the middle who relays it. Across an untrusted network, use TLS.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { RaftError } from "../errors.js";
import { BinaryWriter } from "./binary.js";
import { encodeFrame, FrameKind } from "./frame.js";

/** 256 bits: what `openssl rand -hex 32` makes is 64 characters. */
export const MIN_CLUSTER_SECRET_BYTES = 32;
export const MAX_CLUSTER_SECRET_BYTES = 4096;
export const NONCE_BYTES = 32;
/** HMAC-SHA256. */
export const PROOF_BYTES = 32;

export type Role = "dialer" | "acceptor";

export interface Transcript {
  readonly version: number;
  readonly clusterName: string;
  readonly senderAddress: string;
  readonly acceptorNonce: Buffer;
  readonly dialerNonce: Buffer;
}

/** Checks a secret given by a program and returns its bytes; EINVAL says how to make a good one. */
export function clusterSecretBytes(secret: unknown): Buffer {
  if (typeof secret !== "string" && !(secret instanceof Uint8Array)) {
    throw new RaftError("EINVAL", `clusterSecret must be a string or bytes, got ${secret === null ? "null" : typeof secret}`);
  }
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (bytes.length < MIN_CLUSTER_SECRET_BYTES || bytes.length > MAX_CLUSTER_SECRET_BYTES) {
    throw new RaftError(
      "EINVAL",
      `clusterSecret must be ${MIN_CLUSTER_SECRET_BYTES} to ${MAX_CLUSTER_SECRET_BYTES} bytes, got ${bytes.length}; ` +
        "make one with: openssl rand -hex 32 > cluster.secret && chmod 600 cluster.secret",
    );
  }
  return bytes;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

export function handshakeProof(secret: Buffer, role: Role, transcript: Transcript): Buffer {
  // Length-prefixed fields: no two transcripts write the same bytes.
  const writer = new BinaryWriter(256);
  writer.string(`tsraft cluster-secret ${role}`);
  writer.u32(transcript.version);
  writer.string(transcript.clusterName);
  writer.string(transcript.senderAddress);
  writer.bytes(transcript.acceptorNonce);
  writer.bytes(transcript.dialerNonce);
  return createHmac("sha256", secret).update(writer.finish()).digest();
}

/** Constant time, so a forger learns nothing from how long a refusal took. */
export function proofMatches(expected: Buffer, received: Buffer): boolean {
  return received.length === expected.length && timingSafeEqual(expected, received);
}

export function encodeAuthChallenge(acceptorNonce: Buffer): Buffer {
  return encodeFrame(FrameKind.AuthChallenge, acceptorNonce);
}

export function decodeAuthChallenge(body: Buffer): Buffer {
  exactLength(body, NONCE_BYTES, "a cluster-secret challenge");
  return Buffer.from(body);
}

export function encodeAuthProof(dialerNonce: Buffer, proof: Buffer): Buffer {
  return encodeFrame(FrameKind.AuthProof, Buffer.concat([dialerNonce, proof]));
}

export function decodeAuthProof(body: Buffer): { dialerNonce: Buffer; proof: Buffer } {
  exactLength(body, NONCE_BYTES + PROOF_BYTES, "a cluster-secret proof");
  return { dialerNonce: Buffer.from(body.subarray(0, NONCE_BYTES)), proof: Buffer.from(body.subarray(NONCE_BYTES)) };
}

/** HelloOk carries the acceptor's proof when a secret is in use, and nothing otherwise. */
export function encodeHelloOkWithProof(proof: Buffer): Buffer {
  return encodeFrame(FrameKind.HelloOk, proof);
}

function exactLength(body: Buffer, bytes: number, what: string): void {
  if (body.length !== bytes) throw new RaftError("ECORRUPT", `${what} has ${body.length} bytes, expected ${bytes}`);
}
