/**
 * The KV store's client (RheaKV's RheaKVStore, over tsraft). Keys and values
 * are bytes or strings (stored as UTF-8); results are bytes. Every method
 * checks its input before sending (EINVAL at once), finds the leader through
 * a RouteTable, follows redirects and retries within `timeoutMs`; concurrent
 * calls share request frames (see call-dispatcher.ts).
 *
 * Reads are linearizable by default (ReadIndex on the leader); "lease" asks
 * for a lease read (served as linearizable until the node offers lease reads
 * per call); "stale" reads whatever member answers, as it is, which may miss
 * recent writes. Writes are exactly-once: a retried write keeps its session
 * seq, and the servers answer a retry with the first result.
 */
import { clusterSecretBytes } from "../transport/cluster-auth.js";
import { TcpTransport, type TlsOptions } from "../transport/tcp-transport.js";
import type { Transport } from "../transport/transport.js";
import { CliService } from "../cli/cli-service.js";
import { RouteTable } from "../cli/route-table.js";
import { parsePeerList } from "../cli/peer-list.js";
import { RaftError } from "../errors.js";
import { validateName } from "../transport/protocol.js";
import type { Consistency, KvCallResult, KvEntry, LockState, ReadOp, ReadResult, WatchEvent, WriteOp, WriteResult } from "./commands.js";
import { toBytes, type Bytes } from "./bytes.js";
import { CallDispatcher } from "./call-dispatcher.js";
import { ClientSession } from "./client-session.js";
import { validateReadOp, validateWriteOp } from "./kv-validation.js";
import { DEFAULT_CLUSTER_NAME, DEFAULT_KV_GROUP_ID } from "./kv-service.js";
import { DeferredTransport } from "./deferred-transport.js";
import { DistributedLock, type DistributedLockOptions } from "./distributed-lock.js";
import { watchEvents, type WatchOptions } from "./kv-watch.js";

export interface KvClientOptions {
  /** Members of the group to start from: a server list ("127.0.0.1:8181,127.0.0.1:8182") or peer ids. */
  readonly endpoints: string | readonly string[];
  /** Default "kv". */
  readonly groupId?: string;
  /** Per call, redirects and retries included. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** The servers' clusterName (their transport refuses another). Default "tsraft". Ignored with `transport`. */
  readonly clusterName?: string;
  /** The cluster's secret, when the servers require one (TcpTransportOptions.clusterSecret). Ignored with `transport`. */
  readonly clusterSecret?: string | Uint8Array;
  /** Mutual TLS with the servers: this client's certificate and key, and the cluster CA. Ignored with `transport`. */
  readonly tls?: TlsOptions;
  /**
   * Calls unsettled at once; past it a call fails with EBUSY at once. Default 4096, the
   * results a server remembers per session: more writes in flight could not all be retried safely.
   */
  readonly maxInFlight?: number;
  /** A transport to send on (it stays open on close()); default: the client's own. */
  readonly transport?: Transport;
}

export interface ReadOptions {
  /** Default "linearizable". */
  readonly consistency?: Consistency;
  /** Default: the client's timeoutMs. */
  readonly timeoutMs?: number;
}

export interface WriteOptions {
  readonly timeoutMs?: number;
}

export interface ScanOptions extends ReadOptions {
  /** Entries at most. Default 1000; at most MAX_SCAN_LIMIT (100,000). */
  readonly limit?: number;
  /** Values come back empty. */
  readonly keysOnly?: boolean;
}

export interface CompareAndPutItem {
  readonly key: Bytes;
  /** The value the key must hold; null: the key must be absent. */
  readonly expect: Bytes | null;
  readonly value: Bytes;
}

/** The values [start, end) a getSequence reserved. */
export interface SequenceRange {
  readonly start: number;
  readonly end: number;
}

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_IN_FLIGHT = 4096;
export const DEFAULT_SCAN_LIMIT = 1000;

export class KvClient {
  readonly groupId: string;
  readonly timeoutMs: number;
  /** The client's cache of the group's members and leader. */
  readonly routes: RouteTable;
  private readonly session = new ClientSession();
  private readonly dispatcher: CallDispatcher;
  private readonly transport: Promise<Transport>;
  private readonly ownsTransport: boolean;
  private closed: Promise<void> | null = null;

  constructor(options: KvClientOptions) {
    this.groupId = options.groupId ?? DEFAULT_KV_GROUP_ID;
    validateName(this.groupId, "groupId");
    this.timeoutMs = positiveInteger(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, "timeoutMs");
    const maxInFlight = positiveInteger(options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, "maxInFlight");
    const endpoints = serverListOf(options.endpoints);
    parsePeerList(endpoints, { what: "endpoints" }); // before anything starts
    this.ownsTransport = options.transport === undefined;
    const clusterName = options.clusterName ?? DEFAULT_CLUSTER_NAME;
    validateName(clusterName, "clusterName");
    const clusterSecret = options.clusterSecret === undefined ? undefined : clusterSecretBytes(options.clusterSecret);
    this.transport = options.transport !== undefined ? Promise.resolve(options.transport) : TcpTransport.start({ clusterName, clusterSecret, tls: options.tls });
    this.transport.catch(() => {}); // reported by each call that needs it
    this.routes = new RouteTable(new CliService(new DeferredTransport(this.transport), { timeoutMs: this.timeoutMs, probeTimeoutMs: Math.min(1000, this.timeoutMs) }));
    this.routes.updateConfiguration(this.groupId, endpoints);
    this.dispatcher = new CallDispatcher({ transport: this.transport, routes: this.routes, groupId: this.groupId, session: this.session, maxInFlight });
  }

  /** This client's session id: its writes are applied once per (clientId, seq). */
  get clientId(): string {
    return this.session.clientId;
  }

  // ---------------------------------------------------------------- reads

  async get(key: Bytes, options: ReadOptions = {}): Promise<Uint8Array | null> {
    return expect(await this.read({ type: "get", key: toBytes(key, "key") }, options), "value").value;
  }

  async multiGet(keys: readonly Bytes[], options: ReadOptions = {}): Promise<(Uint8Array | null)[]> {
    return [...expect(await this.read({ type: "multiGet", keys: bytesList(keys, "keys") }, options), "values").values];
  }

  async containsKey(key: Bytes, options: ReadOptions = {}): Promise<boolean> {
    return expect(await this.read({ type: "containsKey", key: toBytes(key, "key") }, options), "bool").value;
  }

  /** The entries with start <= key < end (end null: to the last key), in key order. */
  scan(start: Bytes, end: Bytes | null, options: ScanOptions = {}): Promise<KvEntry[]> {
    return this.scanWay(start, end, false, options);
  }

  /** The entries with start <= key < end, from the last one down. */
  reverseScan(start: Bytes, end: Bytes | null, options: ScanOptions = {}): Promise<KvEntry[]> {
    return this.scanWay(start, end, true, options);
  }

  private async scanWay(start: Bytes, end: Bytes | null, reverse: boolean, options: ScanOptions): Promise<KvEntry[]> {
    const op: ReadOp = {
      type: "scan",
      start: toBytes(start, "start"),
      end: end === null ? null : toBytes(end, "end"),
      limit: options.limit ?? DEFAULT_SCAN_LIMIT,
      reverse,
      keysOnly: options.keysOnly ?? false,
    };
    return [...expect(await this.read(op, options), "entries").entries];
  }

  // ---------------------------------------------------------------- writes

  async put(key: Bytes, value: Bytes, options: WriteOptions = {}): Promise<void> {
    expect(await this.write({ type: "put", key: toBytes(key, "key"), value: toBytes(value, "value") }, options), "ok");
  }

  /** Atomic: every entry in one step. */
  async putAll(entries: readonly { readonly key: Bytes; readonly value: Bytes }[], options: WriteOptions = {}): Promise<void> {
    const list = arrayOf(entries, "entries").map((entry, i) => ({ key: toBytes(entry?.key, `entries[${i}].key`), value: toBytes(entry?.value, `entries[${i}].value`) }));
    expect(await this.write({ type: "putAll", entries: list }, options), "ok");
  }

  /** Resolves with the value before (null: absent). */
  async getAndPut(key: Bytes, value: Bytes, options: WriteOptions = {}): Promise<Uint8Array | null> {
    return expect(await this.write({ type: "getAndPut", key: toBytes(key, "key"), value: toBytes(value, "value") }, options), "value").value;
  }

  /** Writes `value` if the key holds `expected` (null: if it is absent); resolves with whether it wrote. */
  async compareAndPut(key: Bytes, expected: Bytes | null, value: Bytes, options: WriteOptions = {}): Promise<boolean> {
    const op: WriteOp = { type: "compareAndPut", key: toBytes(key, "key"), expect: expected === null ? null : toBytes(expected, "expect"), value: toBytes(value, "value") };
    return expect(await this.write(op, options), "bool").value;
  }

  /** Atomic over several keys: every expectation holds and all are written, or nothing is. */
  async compareAndPutAll(entries: readonly CompareAndPutItem[], options: WriteOptions = {}): Promise<boolean> {
    const list = arrayOf(entries, "entries").map((entry, i) => ({
      key: toBytes(entry?.key, `entries[${i}].key`),
      expect: entry?.expect === null ? null : toBytes(entry?.expect, `entries[${i}].expect`),
      value: toBytes(entry?.value, `entries[${i}].value`),
    }));
    return expect(await this.write({ type: "compareAndPutAll", entries: list }, options), "bool").value;
  }

  /** Writes only if the key is absent; resolves with the value before (null: it wrote). */
  async putIfAbsent(key: Bytes, value: Bytes, options: WriteOptions = {}): Promise<Uint8Array | null> {
    return expect(await this.write({ type: "putIfAbsent", key: toBytes(key, "key"), value: toBytes(value, "value") }, options), "value").value;
  }

  /** Appends `value` to the key's value (creating it when absent). */
  async merge(key: Bytes, value: Bytes, options: WriteOptions = {}): Promise<void> {
    expect(await this.write({ type: "merge", key: toBytes(key, "key"), value: toBytes(value, "value") }, options), "ok");
  }

  /** Resolves with whether the key existed. */
  async delete(key: Bytes, options: WriteOptions = {}): Promise<boolean> {
    return expect(await this.write({ type: "delete", key: toBytes(key, "key") }, options), "bool").value;
  }

  /** Resolves with how many of the keys existed. */
  async deleteAll(keys: readonly Bytes[], options: WriteOptions = {}): Promise<number> {
    return expect(await this.write({ type: "deleteAll", keys: bytesList(keys, "keys") }, options), "count").value;
  }

  /** Deletes the keys in [start, end); resolves with how many there were. */
  async deleteRange(start: Bytes, end: Bytes, options: WriteOptions = {}): Promise<number> {
    return expect(await this.write({ type: "deleteRange", start: toBytes(start, "start"), end: toBytes(end, "end") }, options), "count").value;
  }

  /** Reserves `step` values of the sequence: [start, end). Step 0 reads the current value (start = end). */
  async getSequence(key: Bytes, step: number, options: WriteOptions = {}): Promise<SequenceRange> {
    const result = expect(await this.write({ type: "getSequence", key: toBytes(key, "key"), step }, options), "sequence");
    return { start: result.start, end: result.end };
  }

  /** Resets the sequence to 0; resolves with its value before. */
  async resetSequence(key: Bytes, options: WriteOptions = {}): Promise<number> {
    return expect(await this.write({ type: "resetSequence", key: toBytes(key, "key") }, options), "count").value;
  }

  // ---------------------------------------------------------------- locks

  /** Takes the lock if free or expired (the holder taking it again extends its lease); `acquired` says whether the caller holds it. */
  async acquireLock(key: Bytes, owner: string, leaseMs: number, options: WriteOptions = {}): Promise<LockState> {
    return lockState(expect(await this.write({ type: "lockAcquire", key: toBytes(key, "key"), owner, leaseMs }, options), "lock"));
  }

  /** Extends the holder's lease; `acquired` false when the caller no longer holds the lock (with this token). */
  async renewLock(key: Bytes, owner: string, token: number, leaseMs: number, options: WriteOptions = {}): Promise<LockState> {
    return lockState(expect(await this.write({ type: "lockRenew", key: toBytes(key, "key"), owner, token, leaseMs }, options), "lock"));
  }

  /** Resolves with whether the caller held the lock (with this token) and released it. */
  async releaseLock(key: Bytes, owner: string, token: number, options: WriteOptions = {}): Promise<boolean> {
    return expect(await this.write({ type: "lockRelease", key: toBytes(key, "key"), owner, token }, options), "bool").value;
  }

  /** A lock object that remembers its fencing token and can keep its lease alive. */
  lock(key: Bytes, options: DistributedLockOptions = {}): DistributedLock {
    return new DistributedLock(this, toBytes(key, "key"), options);
  }

  // ---------------------------------------------------------------- watch

  /**
   * The changes of `key` (or, with `prefix`, of every key starting with it) from
   * `fromIndex` on (default: from the next write the serving member applies), as
   * they happen. Long polls any member; survives leader changes and failed members,
   * resuming where it was. Ends when the iteration stops, `signal` aborts or the
   * client closes; throws ECOMPACTED when the servers no longer hold `fromIndex`.
   */
  watch(key: Bytes, options: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    return watchEvents(this.dispatcher, toBytes(key, "key"), options, this.timeoutMs);
  }

  /** Fails the calls in flight with ESHUTDOWN and closes the client's own transport. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.dispatcher.close();
      if (this.ownsTransport) await (await this.transport.catch(() => null))?.close();
    })();
    return this.closed;
  }

  // ---------------------------------------------------------------- machinery

  private async read(op: ReadOp, options: ReadOptions): Promise<ReadResult> {
    validateReadOp(op);
    const consistency = options.consistency ?? "linearizable";
    if (consistency !== "linearizable" && consistency !== "lease" && consistency !== "stale") {
      throw new RaftError("EINVAL", `consistency must be "linearizable", "lease" or "stale", got ${JSON.stringify(consistency)}`);
    }
    const timeoutMs = positiveInteger(options.timeoutMs ?? this.timeoutMs, "timeoutMs");
    return (await this.dispatcher.call({ kind: "read", consistency, op }, { route: consistency === "stale" ? "any" : "leader", timeoutMs })) as ReadResult;
  }

  private async write(op: WriteOp, options: WriteOptions): Promise<WriteResult> {
    validateWriteOp(op);
    const timeoutMs = positiveInteger(options.timeoutMs ?? this.timeoutMs, "timeoutMs");
    const seq = this.session.begin();
    const call = { kind: "write" as const, clientId: this.session.clientId, seq, firstUnackedSeq: seq, op };
    try {
      return (await this.dispatcher.call(call, { route: "leader", timeoutMs })) as WriteResult;
    } finally {
      this.session.finish(seq); // also when the call never reached the dispatcher
    }
  }
}

type ResultOfType<T extends KvCallResult["type"]> = Extract<KvCallResult, { type: T }>;

/** The result of the type the operation answers with; ECORRUPT for anything else (a server of another version). */
function expect<T extends KvCallResult["type"]>(result: KvCallResult, type: T): ResultOfType<T> {
  if (result.type !== type) throw new RaftError("ECORRUPT", `the server answered with a "${result.type}" result where a "${type}" result was expected; do the client and the servers run the same tsraft version?`);
  return result as ResultOfType<T>;
}

function lockState(result: ResultOfType<"lock">): LockState {
  return { acquired: result.acquired, owner: result.owner, token: result.token, expiresAtMs: result.expiresAtMs };
}

function arrayOf<T>(list: readonly T[], what: string): readonly T[] {
  if (!Array.isArray(list)) throw new RaftError("EINVAL", `${what} must be an array`);
  return list;
}

function bytesList(list: readonly Bytes[], what: string): Uint8Array[] {
  return arrayOf(list, what).map((item, i) => toBytes(item, `${what}[${i}]`));
}

function serverListOf(endpoints: unknown): string {
  if (typeof endpoints === "string") return endpoints;
  if (Array.isArray(endpoints) && endpoints.every((id) => typeof id === "string")) return endpoints.join(",");
  throw new RaftError("EINVAL", 'endpoints must be a server list ("127.0.0.1:8181,127.0.0.1:8182") or an array of peer ids');
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RaftError("EINVAL", `${what} must be a positive integer, got ${String(value)}`);
  return value;
}
