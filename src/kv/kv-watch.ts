/**
 * The client's watch: long polls of any member for the events after the last
 * one seen. A failed member, a leader change or a poll that times out only
 * means asking again (elsewhere), from the same index, so no event is missed
 * or repeated; a member that has not applied that index yet holds the poll
 * until it has.
 */
import { RaftError, type RaftErrorCode } from "../errors.js";
import type { WatchEvent, WatchRequest } from "./commands.js";
import type { CallDispatcher } from "./call-dispatcher.js";
import { validateWatchRequest } from "./kv-validation.js";

export interface WatchOptions {
  /** Every key that starts with the key. Default false. */
  readonly prefix?: boolean;
  /**
   * The first log index of interest; to resume, the index after the last event
   * seen. Default 0: from the next write the serving member applies.
   */
  readonly fromIndex?: number;
  /** Events per answer (one log index's events are never split). Default 1000. */
  readonly maxEvents?: number;
  /** How long a member may hold a poll that finds no event. Default 30000 ms. */
  readonly waitMs?: number;
  /** Ends the watch. */
  readonly signal?: AbortSignal;
}

export const DEFAULT_WATCH_MAX_EVENTS = 1000;
export const DEFAULT_WATCH_WAIT_MS = 30_000;
/** Answers after which the watch asks again; anything else ends it with the error. */
const RETRIED_CODES: ReadonlySet<RaftErrorCode> = new Set(["ETIMEDOUT", "EAGAIN", "EBUSY", "ENOTLEADER", "ESTEPPEDDOWN"]);
const RETRY_MIN_DELAY_MS = 50;
const RETRY_MAX_DELAY_MS = 2000;

export async function* watchEvents(dispatcher: CallDispatcher, key: Uint8Array, options: WatchOptions, timeoutMs: number): AsyncGenerator<WatchEvent, void, undefined> {
  const { signal } = options;
  let request: WatchRequest = {
    key,
    prefix: options.prefix ?? false,
    fromIndex: options.fromIndex ?? 0,
    maxEvents: options.maxEvents ?? DEFAULT_WATCH_MAX_EVENTS,
    waitMs: options.waitMs ?? DEFAULT_WATCH_WAIT_MS,
  };
  validateWatchRequest(request);
  let delayMs = RETRY_MIN_DELAY_MS;
  while (signal?.aborted !== true) {
    let nextIndex: number;
    try {
      const call = dispatcher.call({ kind: "watch", watch: request }, { route: "any", timeoutMs: request.waitMs + timeoutMs, solo: true });
      const result = await untilAborted(call, signal);
      if (result === null) return;
      if (result.type !== "events") throw new RaftError("ECORRUPT", `the server answered a watch with a "${result.type}" result`);
      for (const event of result.events) yield event;
      nextIndex = result.nextIndex;
    } catch (error) {
      if (!(error instanceof RaftError)) throw error;
      if (error.code === "ESHUTDOWN" && dispatcher.closed) return;
      if (!RETRIED_CODES.has(error.code)) throw error;
      await untilAborted(sleep(delayMs), signal);
      delayMs = Math.min(2 * delayMs, RETRY_MAX_DELAY_MS);
      continue;
    }
    delayMs = RETRY_MIN_DELAY_MS;
    request = { ...request, fromIndex: nextIndex };
  }
}

/** The promise's value, or null as soon as `signal` aborts. */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | null> {
  if (signal === undefined) return promise;
  if (signal.aborted) return null;
  let onAbort = (): void => {};
  const aborted = new Promise<null>((resolve) => {
    onAbort = () => resolve(null);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
