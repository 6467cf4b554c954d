/**
 * Requests sent and not yet answered, by correlation id. Bounded: a caller
 * past the bound gets EBUSY at once instead of growing memory. Each has its
 * own timeout; an answer that comes after it is ignored.
 */
import { RaftError } from "../errors.js";
import type { TransportStats } from "./transport.js";

interface Pending {
  readonly resolve: (payload: Buffer) => void;
  readonly reject: (error: RaftError) => void;
  readonly timer: NodeJS.Timeout;
}

export class PendingRequests {
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly maxPendingRequests: number,
    private readonly stats: TransportStats,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Registers a request; throws EBUSY when too many are pending. */
  add(remote: string, service: string, timeoutMs: number): { requestId: number; answer: Promise<Buffer> } {
    if (this.pending.size >= this.maxPendingRequests) {
      this.stats.requestsRefusedBusy++;
      throw new RaftError("EBUSY", `${this.pending.size} requests to ${remote} are already waiting for answers (maxPendingRequests); retry later`);
    }
    const requestId = this.nextRequestId++;
    const answer = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        this.stats.requestsTimedOut++;
        reject(new RaftError("ETIMEDOUT", `no answer from ${remote} to "${service}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
    });
    return { requestId, answer };
  }

  /** Settles one request; false when its id is unknown (it timed out, or the peer is confused). */
  settle(requestId: number, outcome: { ok: true; payload: Buffer } | { ok: false; error: RaftError }): boolean {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return false;
    this.pending.delete(requestId);
    clearTimeout(pending.timer);
    if (outcome.ok) pending.resolve(outcome.payload);
    else pending.reject(outcome.error);
    return true;
  }

  rejectAll(error: RaftError): void {
    for (const [requestId, pending] of this.pending) {
      this.pending.delete(requestId);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}
