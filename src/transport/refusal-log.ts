/**
 * An onError for a server's transport that tells the operator about the
 * connections it refused or was refused for authentication (EAUTH) or for
 * another cluster name (EPERM): each is a misconfigured process or someone
 * trying the port. Other transport errors (peers down, reconnects) are the
 * ordinary weather of a cluster and stay quiet. Bounded, so a flood of bad
 * connections cannot flood the log: one line per interval at most, which
 * counts the ones it did not print.
 */
import type { RaftError } from "../errors.js";

export const REFUSAL_LOG_INTERVAL_MS = 10_000;

export function refusalLogger(warn: (line: string) => void, intervalMs = REFUSAL_LOG_INTERVAL_MS): (error: RaftError, remote: string) => void {
  let lastLineAtMs = -Infinity;
  let unprinted = 0;
  return (error, remote) => {
    if (error.code !== "EAUTH" && error.code !== "EPERM") return;
    const nowMs = Date.now();
    if (nowMs - lastLineAtMs < intervalMs) {
      unprinted++;
      return;
    }
    const more = unprinted > 0 ? ` (and ${unprinted} more refusals since the last such line)` : "";
    lastLineAtMs = nowMs;
    unprinted = 0;
    warn(`connection with ${remote} refused: ${error.message}${more}`);
  };
}
