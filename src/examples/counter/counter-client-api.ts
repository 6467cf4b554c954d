/**
 * Calls the counter service the way a Raft client must: try a replica, go to
 * the leader an ENOTLEADER names, and retry with backoff while the cluster
 * has no leader or a replica is down.
 *
 * An increment retried after ETIMEDOUT, a broken connection (EAGAIN) or a
 * leader change (ESTEPPEDDOWN, ESHUTDOWN) may have been applied already and
 * then counts twice: like SOFAJraft's example, the counter keeps no client
 * sessions to tell a retry from a new request.
 */
import { RaftError, TcpTransport, parsePeerId, type RaftErrorCode } from "../../index.js";
import { COUNTER_CLUSTER_NAME, COUNTER_SERVICE, encodeRequest, valueOfReply, type CounterRequest } from "./counter-protocol.js";

export interface CallCounterOptions {
  /** Requests sent in all, following hints included. Default 12: with the backoff, about 8 s of elections and restarts. */
  readonly attempts?: number;
  /** Per request. Default 3000 ms. */
  readonly requestTimeoutMs?: number;
}

/** Worth another try, at the same or another replica; anything else is the caller's mistake or a bug. */
const RETRIABLE: ReadonlySet<RaftErrorCode> = new Set(["ENOTLEADER", "EAGAIN", "ETIMEDOUT", "EBUSY", "ESTEPPEDDOWN", "ESHUTDOWN"]);
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

/** Resolves with the counter's value after the request; rejects with a RaftError once retrying cannot help. */
export async function callCounter(peers: readonly string[], request: CounterRequest, options: CallCounterOptions = {}): Promise<number> {
  if (peers.length === 0) throw new RaftError("EINVAL", "callCounter needs at least one peer");
  const addresses = peers.map((peer) => parsePeerId(peer).address);
  const attempts = options.attempts ?? 12;
  const timeoutMs = options.requestTimeoutMs ?? 3000;
  const transport = await TcpTransport.start({ clusterName: COUNTER_CLUSTER_NAME });
  try {
    let next = 0;
    let target = addresses[0]!;
    let lastError: RaftError | null = null;
    let backoffMs = FIRST_BACKOFF_MS;
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        return valueOfReply(await transport.request(target, COUNTER_SERVICE, encodeRequest(request), { timeoutMs }), target);
      } catch (error) {
        if (!(error instanceof RaftError) || !RETRIABLE.has(error.code)) throw error;
        lastError = error;
      }
      const hinted = lastError.code === "ENOTLEADER" && lastError.leaderHint !== null ? parsePeerId(lastError.leaderHint).address : null;
      if (hinted !== null && hinted !== target) {
        target = hinted; // a fresh hint: no need to wait
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      target = addresses[++next % addresses.length]!;
    }
    throw new RaftError(lastError!.code, `gave up after ${attempts} attempts over ${addresses.join(", ")}; the last answer: ${lastError!.message}`);
  } finally {
    await transport.close();
  }
}
