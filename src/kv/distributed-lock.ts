/**
 * A lock of the KV store held by this client (RheaKV's DistributedLock): it
 * remembers the fencing token of its acquisition, so the resource it guards
 * can refuse a writer whose token is older than one it has seen (a holder
 * paused past its lease must not win), and it can renew its lease on a timer.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { RaftError } from "../errors.js";
import type { LockState } from "./commands.js";
import type { KvClient } from "./kv-client.js";

export interface DistributedLockOptions {
  /** Who holds the lock; default `<host>:<pid>:<random>`, unique to this lock object. */
  readonly owner?: string;
  /** Default 30000 ms. */
  readonly leaseMs?: number;
  /** While held, renew the lease every third of it. Default false. */
  readonly keepAlive?: boolean;
}

export const DEFAULT_LOCK_LEASE_MS = 30_000;
const RETRY_MIN_DELAY_MS = 50;
const RETRY_MAX_DELAY_MS = 1000;

export class DistributedLock {
  readonly owner: string;
  readonly leaseMs: number;
  private readonly keepAlive: boolean;
  private state: LockState | null = null;
  private renewTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly client: KvClient,
    readonly key: Uint8Array,
    options: DistributedLockOptions,
  ) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.leaseMs = options.leaseMs ?? DEFAULT_LOCK_LEASE_MS;
    this.keepAlive = options.keepAlive ?? false;
  }

  /** Held as of the last answer from the store (a lease can end between answers: use the fencing token). */
  get held(): boolean {
    return this.state?.acquired === true;
  }

  /** The fencing token of this holder's acquisition; EPERM when the lock is not held. */
  get fencingToken(): number {
    if (!this.held) throw new RaftError("EPERM", "the lock is not held: acquire it first");
    return this.state!.token;
  }

  /** The last state the store answered (who holds it, until when), or null before the first call. */
  get lastState(): LockState | null {
    return this.state;
  }

  /** One attempt; resolves with whether this owner holds the lock now. */
  async tryLock(): Promise<boolean> {
    this.update(await this.client.acquireLock(this.key, this.owner, this.leaseMs));
    return this.held;
  }

  /** Tries until the lock is taken or `waitMs` passed (ETIMEDOUT, naming the holder). */
  async lock(waitMs = this.client.timeoutMs): Promise<void> {
    const deadlineMs = Date.now() + waitMs;
    let delayMs = RETRY_MIN_DELAY_MS;
    while (!(await this.tryLock())) {
      const leftMs = deadlineMs - Date.now();
      if (leftMs <= 0) {
        throw new RaftError("ETIMEDOUT", `the lock is held by ${this.state?.owner || "another owner"} until ${new Date(this.state?.expiresAtMs ?? 0).toISOString()}; gave up after ${waitMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delayMs, leftMs)));
      delayMs = Math.min(2 * delayMs, RETRY_MAX_DELAY_MS);
    }
  }

  /** Extends the lease; resolves with whether the lock is still held. */
  async renew(): Promise<boolean> {
    this.update(await this.client.renewLock(this.key, this.owner, this.fencingToken, this.leaseMs));
    return this.held;
  }

  /** Resolves with whether the lock was held and is now released. */
  async unlock(): Promise<boolean> {
    if (!this.held) return false;
    const token = this.state!.token;
    this.stopRenewing();
    const released = await this.client.releaseLock(this.key, this.owner, token);
    this.state = { ...this.state!, acquired: false };
    return released;
  }

  private update(state: LockState): void {
    this.state = state;
    if (state.acquired && this.keepAlive && this.renewTimer === null) {
      this.renewTimer = setInterval(() => {
        // A failed renewal leaves the lock to expire; `held` turns false once the store says so.
        this.renew().catch(() => {});
      }, Math.max(1, Math.floor(this.leaseMs / 3)));
      this.renewTimer.unref();
    }
    if (!state.acquired) this.stopRenewing();
  }

  private stopRenewing(): void {
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    this.renewTimer = null;
  }
}
