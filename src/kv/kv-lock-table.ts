/**
 * Distributed locks with leases and fencing tokens, in a table apart from the
 * data keys. Time is the store's (the leaders' clock made monotonic), passed
 * in: every replica decides the same. A lock whose lease ended
 * (expiresAtMs <= now) is free; its record goes when next touched.
 */
import type { LockState, WriteResult } from "./commands.js";
import { KeyTree } from "./kv-key-tree.js";
import { errorResult } from "./kv-results.js";

export interface LockRecord {
  readonly owner: string;
  readonly token: number;
  readonly expiresAtMs: number;
}

const FREE: LockState = Object.freeze({ acquired: false, owner: "", token: 0, expiresAtMs: 0 });

export class LockTable {
  constructor(
    private readonly locks: KeyTree<LockRecord> = new KeyTree(),
    /** The last fencing token handed out; tokens grow with every acquisition of any lock. */
    private fencingCounter = 0,
  ) {}

  get size(): number {
    return this.locks.size;
  }

  get lastFencingToken(): number {
    return this.fencingCounter;
  }

  /** The records in key order (for snapshots; expired ones included). */
  records(): IterableIterator<[Uint8Array, LockRecord]> {
    return this.locks.entries();
  }

  /** Free or expired: a new token. Held by `owner`: the lease restarts, same token. Held by another: refused. */
  acquire(key: Uint8Array, owner: string, leaseMs: number, nowMs: number): WriteResult {
    const expiresAtMs = nowMs + leaseMs;
    if (!Number.isSafeInteger(expiresAtMs)) return leaseTooFar(nowMs, leaseMs);
    const held = this.holder(key, nowMs);
    if (held !== null && held.owner !== owner) return lockResult(false, held);
    if (held !== null) return this.hold(key, { owner, token: held.token, expiresAtMs });
    if (this.fencingCounter >= Number.MAX_SAFE_INTEGER) {
      return errorResult("EINVAL", "lockAcquire: the fencing tokens reached 2^53 - 1; no more can be handed out");
    }
    this.fencingCounter++;
    return this.hold(key, { owner, token: this.fencingCounter, expiresAtMs });
  }

  /** Only the unexpired holder with its token extends the lease; anyone else learns who holds it. */
  renew(key: Uint8Array, owner: string, token: number, leaseMs: number, nowMs: number): WriteResult {
    const expiresAtMs = nowMs + leaseMs;
    if (!Number.isSafeInteger(expiresAtMs)) return leaseTooFar(nowMs, leaseMs);
    const held = this.holder(key, nowMs);
    if (held === null) return lockResult(false, FREE);
    if (held.owner !== owner || held.token !== token) return lockResult(false, held);
    return this.hold(key, { owner, token, expiresAtMs });
  }

  /** True when the unexpired holder released it with its token. */
  release(key: Uint8Array, owner: string, token: number, nowMs: number): WriteResult {
    const held = this.holder(key, nowMs);
    const released = held !== null && held.owner === owner && held.token === token;
    if (released) this.locks.delete(key);
    return { type: "bool", value: released };
  }

  /** The unexpired holder, or null; an expired record is dropped. */
  private holder(key: Uint8Array, nowMs: number): LockRecord | null {
    const record = this.locks.get(key);
    if (record === undefined) return null;
    if (record.expiresAtMs > nowMs) return record;
    this.locks.delete(key);
    return null;
  }

  private hold(key: Uint8Array, record: LockRecord): WriteResult {
    this.locks.set(key, record);
    return lockResult(true, record);
  }
}

function lockResult(acquired: boolean, state: Pick<LockState, "owner" | "token" | "expiresAtMs">): WriteResult {
  return { type: "lock", acquired, owner: state.owner, token: state.token, expiresAtMs: state.expiresAtMs };
}

function leaseTooFar(nowMs: number, leaseMs: number): WriteResult {
  return errorResult("EINVAL", `a lease of ${leaseMs} ms from the store time ${nowMs} ms ends past 2^53 - 1`);
}
