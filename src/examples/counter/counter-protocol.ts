/**
 * What the counter's servers and clients agree on: names, the requests and
 * replies of the "counter" service, and the log entry format.
 *
 * Replies carry the node's errors in their payload instead of throwing them
 * from the handler: a RaftError thrown there reaches the client with its code
 * and message only, and the client needs ENOTLEADER's leaderHint to go
 * straight to the leader.
 */
// RAFT_ERROR_CODES is not in index.ts; everything else the example uses is.
import { RAFT_ERROR_CODES, RaftError, type RaftErrorCode } from "../../errors.js";

/** Peers of another cluster are refused at the transport's handshake. */
export const COUNTER_CLUSTER_NAME = "counter";
export const COUNTER_GROUP_ID = "counter";
export const COUNTER_SERVICE = "counter";

export type CounterRequest = { readonly op: "incrementAndGet"; readonly delta: number } | { readonly op: "get" };

export type CounterReply =
  | { readonly ok: true; readonly value: number }
  | { readonly ok: false; readonly code: RaftErrorCode; readonly message: string; readonly leaderHint: string | null };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Deltas are integers, as SOFAJraft's are longs; the safe range keeps the sum exact in a double far enough. */
export function validateDelta(delta: unknown): number {
  if (typeof delta !== "number" || !Number.isSafeInteger(delta)) {
    throw new RaftError("EINVAL", `delta must be an integer between -(2^53-1) and 2^53-1, got ${String(delta)}`);
  }
  return delta;
}

export function encodeRequest(request: CounterRequest): Uint8Array {
  return encoder.encode(JSON.stringify(request));
}

/** Input from the network: anything malformed is EINVAL. */
export function decodeRequest(payload: Uint8Array): CounterRequest {
  const value = parseJson(payload, "request");
  if (value.op === "get") return { op: "get" };
  if (value.op === "incrementAndGet") return { op: "incrementAndGet", delta: validateDelta(value.delta) };
  throw new RaftError("EINVAL", `unknown counter operation ${JSON.stringify(value.op)}; expected "incrementAndGet" or "get"`);
}

export function encodeReply(reply: CounterReply): Uint8Array {
  return encoder.encode(JSON.stringify(reply));
}

export function replyFromError(error: RaftError): CounterReply {
  return { ok: false, code: error.code, message: withoutCode(error), leaderHint: error.leaderHint };
}

/** The reply's value; a reply with an error throws it, rebuilt as a RaftError (leaderHint included). */
export function valueOfReply(payload: Uint8Array, from: string): number {
  const reply = parseJson(payload, "reply");
  if (reply.ok === true && typeof reply.value === "number") return reply.value;
  const code = RAFT_ERROR_CODES.find((known) => known === reply.code);
  if (reply.ok !== false || code === undefined || typeof reply.message !== "string") {
    throw new RaftError("ECORRUPT", `${from} sent a counter reply of an unknown shape; is it a counter server?`);
  }
  const leaderHint = typeof reply.leaderHint === "string" ? reply.leaderHint : null;
  throw new RaftError(code, `${reply.message} (from ${from})`, leaderHint);
}

/** One log entry: the delta as a big-endian float64 (exact for safe integers). */
export function encodeDelta(delta: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, delta);
  return bytes;
}

export function decodeDelta(bytes: Uint8Array): number {
  if (bytes.length !== 8) throw new RaftError("ECORRUPT", `a counter log entry has ${bytes.length} bytes, expected 8`);
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0);
}

function parseJson(payload: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    throw new RaftError("EINVAL", `the counter ${what} is not JSON`);
  }
  if (value === null || typeof value !== "object") throw new RaftError("EINVAL", `the counter ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** RaftError's message starts with its code; the reply carries the code apart. */
function withoutCode(error: RaftError): string {
  const prefix = `${error.code}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
