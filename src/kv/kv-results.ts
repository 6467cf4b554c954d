/** Results shared by the KV store's parts. Error results are values: a bad write fails alone, the same on every replica. */
import type { RaftErrorCode } from "../errors.js";
import type { KvErrorResult, WriteResult } from "./commands.js";

export const OK_RESULT: WriteResult = Object.freeze({ type: "ok" });

export function errorResult(code: RaftErrorCode, message: string): KvErrorResult {
  return { type: "error", code, message, leaderHint: null };
}
