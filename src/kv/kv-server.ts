/**
 * The server side of the KV store: the "kv" transport service, one handler
 * per transport for every KV group served there (as the CLI service).
 *
 * Per group: writes go to the leader's group commit (write-batcher.ts);
 * linearizable and lease reads share a ReadIndex per turn on the leader
 * (read-batcher.ts); stale reads and watches are served by any member at
 * once. A follower answers leader-only calls ENOTLEADER with the leader it
 * knows. Every failed call gets its own error result, the other calls of the
 * frame go on; a frame that cannot be decoded, or names a group not served
 * here, fails whole with EINVAL.
 *
 * Reads ask for the consistency they need: linearizable ones take a quorum
 * round, lease ones the leader's lease (kv-process starts nodes with readOnly
 * "lease" so that the lease is granted), stale ones read at once.
 */
import { RaftError } from "../errors.js";
import type { RaftNode } from "../node/raft-node.js";
import { plainMessage } from "../transport/protocol.js";
import type { Transport } from "../transport/transport.js";
import type { KvCall, KvCallResult, KvRequest, WatchRequest, WatchResult } from "./commands.js";
import { decodeKvRequest, encodeKvResponse } from "./kv-codec.js";
import { errorResultOf } from "./kv-errors.js";
import { errorResult } from "./kv-results.js";
import { KV_SERVICE, KV_STATUS_SERVICE } from "./kv-service.js";
import type { KvStateMachine } from "./kv-state-machine.js";
import { decodeStatusRequest, encodeStatus, type KvServerStatus } from "./kv-status.js";
import { ReadBatcher, serveRead } from "./read-batcher.js";
import { fitResponse } from "./response-budget.js";
import { WriteBatcher } from "./write-batcher.js";

export interface KvGroupOptions {
  readonly node: RaftNode;
  readonly stateMachine: KvStateMachine;
  /** Writes queued or being committed on the leader; past it EBUSY. Default 10,000. */
  readonly maxPendingWrites?: number;
  /** Linearizable reads queued or waiting for their read index; past it EBUSY. Default 10,000. */
  readonly maxPendingReads?: number;
}

export const DEFAULT_MAX_PENDING_WRITES = 10_000;
export const DEFAULT_MAX_PENDING_READS = 10_000;
/** Group names an error lists before "...": enough to spot a typo. */
const NAMES_IN_ERRORS = 8;

/** The KV service of one transport. */
export class KvService {
  private static readonly byTransport = new WeakMap<Transport, KvService>();
  /** A group's server, or null while its node starts. */
  private readonly groups = new Map<string, KvGroupServer | null>();

  /** The transport's KV service, installed (with the status service) on first use. */
  static on(transport: Transport): KvService {
    let service = KvService.byTransport.get(transport);
    if (service === undefined) {
      const created = new KvService();
      transport.handle(KV_SERVICE, (payload) => created.answer(payload));
      transport.handle(KV_STATUS_SERVICE, async (payload) => encodeStatus(created.group(decodeStatusRequest(payload)).status()));
      KvService.byTransport.set(transport, (service = created));
    }
    return service;
  }

  private constructor() {}

  /** The group's node is starting: its calls are answered EAGAIN meanwhile, not "unknown group". */
  starting(groupId: string): void {
    if (!this.groups.has(groupId)) this.groups.set(groupId, null);
  }

  /** Serves the group's calls with its started node and state machine. */
  addGroup(options: KvGroupOptions): KvGroupServer {
    const groupId = options.node.groupId;
    if (this.groups.get(groupId)) throw new RaftError("EINVAL", `KV group "${groupId}" is already served on this transport`);
    const server = new KvGroupServer(options);
    this.groups.set(groupId, server);
    return server;
  }

  /** Stops serving the group: its waiting calls end with ESHUTDOWN, later ones get EINVAL. */
  removeGroup(groupId: string): void {
    this.groups.get(groupId)?.stop();
    this.groups.delete(groupId);
  }

  private async answer(payload: Buffer): Promise<Uint8Array> {
    let request: KvRequest;
    try {
      request = decodeKvRequest(payload);
    } catch (error) {
      throw error instanceof RaftError ? new RaftError("EINVAL", `malformed KV request: ${plainMessage(error)}`) : error;
    }
    return encodeKvResponse({ results: fitResponse(await this.group(request.groupId).serve(request.calls)) });
  }

  private group(groupId: string): KvGroupServer {
    const server = this.groups.get(groupId);
    if (server === undefined) {
      const served = [...this.groups.keys()].slice(0, NAMES_IN_ERRORS).map((id) => `"${id}"`).join(", ") || "none";
      throw new RaftError("EINVAL", `KV group "${groupId.slice(0, 64)}" is not served by this process (it serves ${served}); check the group id`);
    }
    if (server === null) throw new RaftError("EAGAIN", `KV group "${groupId}" is starting here; retry shortly`);
    return server;
  }
}

/** The calls of one group on one member. */
export class KvGroupServer {
  private readonly node: RaftNode;
  private readonly stateMachine: KvStateMachine;
  private readonly writes: WriteBatcher;
  private readonly reads: ReadBatcher;
  /** Ends the watches waiting here when the server stops. */
  private readonly stopping = new AbortController();
  private stopped = false;
  private callsServed = 0;

  constructor(options: KvGroupOptions) {
    this.node = options.node;
    this.stateMachine = options.stateMachine;
    this.writes = new WriteBatcher(this.node, options.maxPendingWrites ?? DEFAULT_MAX_PENDING_WRITES);
    this.reads = new ReadBatcher(this.node, (op) => this.stateMachine.read(op), options.maxPendingReads ?? DEFAULT_MAX_PENDING_READS);
  }

  async serve(calls: readonly KvCall[]): Promise<KvCallResult[]> {
    const results = await Promise.all(calls.map((call) => this.serveCall(call)));
    for (const result of results) if (result.type !== "error") this.callsServed++;
    return results;
  }

  status(): KvServerStatus {
    const node = this.node;
    return {
      groupId: node.groupId,
      serverId: node.serverId,
      state: node.state,
      term: node.term,
      leaderId: node.leaderId,
      committedIndex: node.committedIndex,
      appliedIndex: node.appliedIndex,
      callsServed: this.callsServed,
      keys: this.stateMachine.stats().keys,
    };
  }

  stop(): void {
    this.stopped = true;
    this.stopping.abort();
  }

  private serveCall(call: KvCall): Promise<KvCallResult> {
    if (this.stopped) return Promise.resolve(errorResult("ESHUTDOWN", `the KV server of group "${this.node.groupId}" on ${this.node.serverId} is stopping; retry on another member`));
    switch (call.kind) {
      case "write":
        return this.writes.submit(call);
      case "read":
        // "lease" is served as "linearizable": see the file's comment.
        return call.consistency === "stale" ? Promise.resolve(serveRead((op) => this.stateMachine.read(op), call.op)) : this.reads.submit(call.op, call.consistency === "lease" ? "lease" : "safe");
      case "watch":
        return this.watch(call.watch);
    }
  }

  /** A long poll: the events from fromIndex on, or an empty answer after waitMs. fromIndex 0 means "from the next index applied here". */
  private async watch(request: WatchRequest): Promise<WatchResult> {
    const fromIndex = request.fromIndex === 0 ? this.stateMachine.appliedIndex + 1 : request.fromIndex;
    const waited = new AbortController();
    const onStop = (): void => waited.abort();
    this.stopping.signal.addEventListener("abort", onStop, { once: true });
    const timer = setTimeout(() => waited.abort(), request.waitMs);
    try {
      return await this.stateMachine.watchLongPoll({ ...request, fromIndex }, waited.signal);
    } catch (error) {
      return errorResultOf(error);
    } finally {
      clearTimeout(timer);
      this.stopping.signal.removeEventListener("abort", onStop);
    }
  }
}
