/**
 * Errors as KV results and back: the server answers every failed call with an
 * error result (the other calls of the frame go on), and the client turns an
 * error result into the RaftError its caller sees.
 */
import { RaftError } from "../errors.js";
import { errorResult } from "./kv-results.js";
import { plainMessage } from "../transport/protocol.js";
import type { KvErrorResult } from "./commands.js";

/** A RaftError keeps its code and hint; anything else is a bug on the server, reported as such. */
export function errorResultOf(error: unknown): KvErrorResult {
  if (error instanceof RaftError) return { type: "error", code: error.code, message: plainMessage(error), leaderHint: error.leaderHint };
  const text = error instanceof Error ? error.message : String(error);
  return errorResult("ESTATEMACHINE", `the KV server failed unexpectedly: ${text}`);
}

export function raftErrorOf(result: KvErrorResult): RaftError {
  return new RaftError(result.code, result.message, result.leaderHint);
}
