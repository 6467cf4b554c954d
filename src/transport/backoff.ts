/** Reconnect delays: exponential in consecutive failures, capped, with jitter. */
import { RaftError } from "../errors.js";

export interface BackoffOptions {
  readonly reconnectMinDelayMs: number;
  readonly reconnectMaxDelayMs: number;
}

export function validateBackoff(options: BackoffOptions): void {
  const { reconnectMinDelayMs: minMs, reconnectMaxDelayMs: maxMs } = options;
  if (!Number.isSafeInteger(minMs) || minMs < 1 || !Number.isSafeInteger(maxMs) || maxMs < minMs) {
    throw new RaftError("EINVAL", `reconnect delays must be integers with 1 <= reconnectMinDelayMs <= reconnectMaxDelayMs, got ${minMs} and ${maxMs}`);
  }
}

/**
 * "Equal jitter": half of the delay is fixed, so retries never collapse to
 * zero, and half is random, so peers that lost a node together do not all
 * knock on it again in the same millisecond.
 */
export function reconnectDelayMs(consecutiveFailures: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(consecutiveFailures - 1, 0), 30);
  const ceilingMs = Math.min(options.reconnectMaxDelayMs, options.reconnectMinDelayMs * 2 ** exponent);
  return Math.round(ceilingMs / 2 + (random() * ceilingMs) / 2);
}
