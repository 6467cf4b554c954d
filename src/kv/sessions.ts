/**
 * Exactly-once writes: each client session remembers the results of its
 * writes until the client says it has them (firstUnackedSeq passes them), so
 * a write retried after a timeout or a leader change gets its first result
 * instead of being applied again.
 *
 * Bounded: sessions by count (the least recently written evicted first),
 * remembered results per session by count and bytes (the lowest seq
 * forgotten first), and a session expires after sessionTtlMs of store time
 * without a write. A client that retries within the TTL and keeps fewer
 * writes unacknowledged than the bounds gets exactly-once; a client whose
 * session was evicted or expired starts a new one (its retries of writes
 * applied before can no longer be recognized).
 *
 * Deterministic: time is the store's, and the least recently used order is
 * the order of writes in the log (ties in store time go to the earlier write),
 * kept by snapshots. The bounds decide results, so every replica must use the
 * same ones.
 */
import { RaftError } from "../errors.js";
import type { WriteCall, WriteOp, WriteResult } from "./commands.js";
import { BTree } from "./kv-key-tree.js";
import { errorResult } from "./kv-results.js";

export const DEFAULT_MAX_SESSIONS = 100_000;
export const DEFAULT_SESSION_TTL_MS = 10 * 60 * 1000;
export const DEFAULT_MAX_RESULTS_PER_SESSION = 4096;
export const DEFAULT_MAX_RESULT_BYTES_PER_SESSION = 16 * 1024 * 1024;
/** What a remembered result costs beside its bytes (objects, tree slots). */
const RESULT_OVERHEAD_BYTES = 64;

export interface SessionOptions {
  /** Sessions kept; beyond, the least recently written is evicted. Default 100,000. */
  readonly maxSessions?: number;
  /** A session without a write for this long (store time) expires. Default 10 minutes. */
  readonly sessionTtlMs?: number;
  /** Results one session remembers; beyond, its lowest seq is forgotten. Default 4096. */
  readonly maxResultsPerSession?: number;
  /** Bytes of results one session remembers (the newest is always kept). Default 16 MiB. */
  readonly maxResultBytesPerSession?: number;
}

/** One session as a snapshot holds it. */
export interface SessionSnapshot {
  readonly clientId: string;
  readonly lastWriteMs: number;
  readonly forgottenBelowSeq: number;
  /** By seq, ascending. */
  readonly results: readonly (readonly [seq: number, result: WriteResult])[];
}

type ResultTree = InstanceType<typeof BTree<number, WriteResult>>;

interface Session {
  readonly clientId: string;
  lastWriteMs: number;
  /** Results of seqs below this are forgotten: acknowledged by the client or dropped for room. */
  forgottenBelowSeq: number;
  readonly results: ResultTree;
  resultBytes: number;
}

export class ClientSessions {
  readonly maxSessions: number;
  readonly sessionTtlMs: number;
  readonly maxResultsPerSession: number;
  readonly maxResultBytesPerSession: number;
  /** In least recently written order: a write moves its session to the end. */
  private readonly sessions = new Map<string, Session>();
  /** The session at the end of `sessions`: the calls of one batch mostly share a session, and it need not move. */
  private newest: Session | undefined = undefined;

  constructor(options: SessionOptions = {}) {
    this.maxSessions = positiveInteger(options.maxSessions ?? DEFAULT_MAX_SESSIONS, "maxSessions");
    this.sessionTtlMs = positiveInteger(options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS, "sessionTtlMs");
    this.maxResultsPerSession = positiveInteger(options.maxResultsPerSession ?? DEFAULT_MAX_RESULTS_PER_SESSION, "maxResultsPerSession");
    this.maxResultBytesPerSession = positiveInteger(options.maxResultBytesPerSession ?? DEFAULT_MAX_RESULT_BYTES_PER_SESSION, "maxResultBytesPerSession");
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * The call's result: the remembered one for a seq already applied, an
   * ECOMPACTED error for a seq whose result is forgotten, or else `applyOp`'s,
   * remembered. `timeMs` is the store time, never going back.
   */
  apply(call: WriteCall, timeMs: number, applyOp: (op: WriteOp) => WriteResult): WriteResult {
    this.expire(timeMs);
    const session = this.touch(call.clientId, call.firstUnackedSeq, timeMs);
    this.forgetAcknowledged(session, call.firstUnackedSeq);
    if (call.seq < session.forgottenBelowSeq) {
      return errorResult(
        "ECOMPACTED",
        `the result of this retried write is no longer kept (client ${call.clientId}, seq ${call.seq}; results below seq ${session.forgottenBelowSeq} are forgotten); ` +
          "it may or may not have been applied: read the state to find out",
      );
    }
    const remembered = session.results.get(call.seq);
    if (remembered !== undefined) return remembered;
    const result = applyOp(call.op);
    this.remember(session, call.seq, result);
    return result;
  }

  /** Drops the sessions without a write for sessionTtlMs up to `timeMs`. */
  expire(timeMs: number): void {
    for (const session of this.sessions.values()) {
      if (session.lastWriteMs + this.sessionTtlMs > timeMs) return; // the rest wrote later
      this.sessions.delete(session.clientId);
    }
  }

  /** A session's state, for describing and tests; undefined when there is none. */
  describe(clientId: string): SessionSnapshot | undefined {
    const session = this.sessions.get(clientId);
    return session === undefined ? undefined : snapshotOf(session);
  }

  /** Every session, least recently written first: the order restore() takes them in. */
  *snapshots(): IterableIterator<SessionSnapshot> {
    for (const session of this.sessions.values()) yield snapshotOf(session);
  }

  /** Adds a session from a snapshot as the most recently written one. */
  restore(snapshot: SessionSnapshot): void {
    if (this.sessions.has(snapshot.clientId)) throw new RaftError("ECORRUPT", `the snapshot holds client session ${snapshot.clientId} twice`);
    const session: Session = {
      clientId: snapshot.clientId,
      lastWriteMs: snapshot.lastWriteMs,
      forgottenBelowSeq: snapshot.forgottenBelowSeq,
      results: new BTree<number, WriteResult>(),
      resultBytes: 0,
    };
    this.evictForRoom();
    this.sessions.set(session.clientId, session);
    this.newest = session;
    for (const [seq, result] of snapshot.results) this.remember(session, seq, result);
  }

  /** The caller's session, created if needed, moved to the most recent end. */
  private touch(clientId: string, firstUnackedSeq: number, timeMs: number): Session {
    let session = this.sessions.get(clientId);
    if (session !== undefined && session === this.newest) {
      session.lastWriteMs = timeMs;
      return session;
    }
    if (session === undefined) {
      this.evictForRoom();
      session = { clientId, lastWriteMs: timeMs, forgottenBelowSeq: firstUnackedSeq, results: new BTree<number, WriteResult>(), resultBytes: 0 };
    } else {
      this.sessions.delete(clientId);
      session.lastWriteMs = timeMs;
    }
    this.sessions.set(clientId, session);
    this.newest = session;
    return session;
  }

  private evictForRoom(): void {
    for (const clientId of this.sessions.keys()) {
      if (this.sessions.size < this.maxSessions) return;
      this.sessions.delete(clientId);
    }
  }

  private forgetAcknowledged(session: Session, firstUnackedSeq: number): void {
    if (firstUnackedSeq <= session.forgottenBelowSeq) return; // a retry may carry an older acknowledgement
    session.forgottenBelowSeq = firstUnackedSeq;
    session.results.editRange(0, firstUnackedSeq, false, (_seq, result) => {
      session.resultBytes -= resultBytes(result);
      return { delete: true };
    });
  }

  private remember(session: Session, seq: number, result: WriteResult): void {
    session.results.set(seq, result);
    session.resultBytes += resultBytes(result);
    while (session.results.size > this.maxResultsPerSession || (session.resultBytes > this.maxResultBytesPerSession && session.results.size > 1)) {
      const lowestSeq = session.results.minKey()!;
      session.resultBytes -= resultBytes(session.results.get(lowestSeq)!);
      session.results.delete(lowestSeq);
      session.forgottenBelowSeq = Math.max(session.forgottenBelowSeq, lowestSeq + 1);
    }
  }
}

function snapshotOf(session: Session): SessionSnapshot {
  return {
    clientId: session.clientId,
    lastWriteMs: session.lastWriteMs,
    forgottenBelowSeq: session.forgottenBelowSeq,
    results: session.results.toArray(),
  };
}

function resultBytes(result: WriteResult): number {
  switch (result.type) {
    case "value":
      return RESULT_OVERHEAD_BYTES + (result.value?.byteLength ?? 0);
    case "lock":
      return RESULT_OVERHEAD_BYTES + result.owner.length;
    case "error":
      return RESULT_OVERHEAD_BYTES + result.message.length;
    default:
      return RESULT_OVERHEAD_BYTES;
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RaftError("EINVAL", `session option ${name} must be a positive integer, got ${String(value)}`);
  return value;
}
