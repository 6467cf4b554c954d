/**
 * What the node runtime needs from the network. One Transport per process,
 * shared by every Raft group there (as SOFAJraft's RaftGroupService shares one
 * RPC server): Raft messages are one-way and routed by `message.to`; services
 * (CLI, snapshot copy, KV) use request/response.
 *
 * Error codes callers see: EBUSY (a bounded queue is full; retry later),
 * ETIMEDOUT (no answer in time), EAGAIN (no connection to the peer, or it
 * broke before the answer: a request may or may not have been processed),
 * EINVAL (bad argument, unknown service, or a frame the peer refused),
 * EAUTH (the peer refused our cluster secret or certificate, or could not
 * prove its own: retrying will not help until the credentials change),
 * ESHUTDOWN (this transport is closed), and whatever code a handler threw.
 */
import { RaftError } from "../errors.js";
import type { Message } from "../core/messages.js";
import type { NodeId } from "../core/types.js";
import { DEFAULT_MAX_FRAME_BYTES, validateMaxFrameBytes } from "./frame.js";
import { validateName } from "./protocol.js";

/** Called synchronously, in arrival order, for each message to a registered local peer. */
export type RaftMessageHandler = (message: Message) => void;
/** Answers one request; a thrown RaftError travels back with its code. `from` is the sender's address. */
export type RequestHandler = (payload: Buffer, from: string) => Promise<Uint8Array>;

export interface RequestOptions {
  /** Default: the transport's defaultRequestTimeoutMs. */
  readonly timeoutMs?: number;
}

export interface Transport {
  /** `host:port` where peers reach this process, or null for a transport that only sends requests. */
  readonly localAddress: string | null;
  registerGroup(groupId: string, nodeId: NodeId, onMessage: RaftMessageHandler): void;
  unregisterGroup(groupId: string, nodeId: NodeId): void;
  /** Fire and forget: a message that cannot be queued is dropped, counted and reported to onUnreachable. */
  sendRaft(groupId: string, message: Message): void;
  handle(service: string, handler: RequestHandler): void;
  request(address: string, service: string, payload: Uint8Array, options?: RequestOptions): Promise<Buffer>;
  stats(): TransportStats;
  /** Closes listeners and connections; pending requests reject with ESHUTDOWN. */
  close(): Promise<void>;
}

export interface TransportStats {
  framesSent: number;
  bytesSent: number;
  framesReceived: number;
  bytesReceived: number;
  /** Raft messages not sent: queue full, peer unreachable, or transport closed. */
  raftMessagesDropped: number;
  /** Requests refused with EBUSY, ours (full queue) or a peer's (too many concurrent). */
  requestsRefusedBusy: number;
  requestsTimedOut: number;
  /** Connection attempts to a peer we had connected to, or tried to, before. */
  reconnects: number;
  connectionFailures: number;
  /** Frames for unknown groups, malformed frames, refused handshakes, handler throws. */
  protocolErrors: number;
  openOutboundConnections: number;
  openInboundConnections: number;
}

/**
 * A Transport that only makes requests, each answered by `request`: what a
 * client given a transport of its own (a benchmark, a test) needs to stand in
 * for the network. It hosts no group and serves nothing.
 */
export function requestOnlyTransport(request: Transport["request"]): Transport {
  return {
    localAddress: null,
    registerGroup() {},
    unregisterGroup() {},
    sendRaft() {},
    handle() {},
    request,
    stats: emptyStats,
    close: async () => {},
  };
}

export function emptyStats(): TransportStats {
  return {
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    raftMessagesDropped: 0,
    requestsRefusedBusy: 0,
    requestsTimedOut: 0,
    reconnects: 0,
    connectionFailures: 0,
    protocolErrors: 0,
    openOutboundConnections: 0,
    openInboundConnections: 0,
  };
}

/** Options both implementations share. */
export interface TransportOptions {
  /** Peers of another cluster are refused at the handshake. */
  readonly clusterName: string;
  /** Largest frame, header included. Default 16 MiB. */
  readonly maxFrameBytes?: number;
  /** Per connection: frames waiting to be written. Default 4096. */
  readonly maxQueuedFrames?: number;
  /** Per connection: bytes waiting to be written. Default 64 MiB. */
  readonly maxQueuedBytes?: number;
  /** Per connection: requests sent and not yet answered. Default 1024. */
  readonly maxPendingRequests?: number;
  /** Per inbound connection: requests being handled at once; more are answered EBUSY. Default 256. */
  readonly maxConcurrentRequests?: number;
  /** Default 5000 ms, as SOFAJraft's rpcDefaultTimeout. */
  readonly defaultRequestTimeoutMs?: number;
  /** A Raft message to `peerId` of `groupId` was dropped or its connection failed: tell the core. */
  readonly onUnreachable?: (peerId: NodeId, groupId: string) => void;
  /** Something went wrong with traffic to or from `remote`; the transport carried on. */
  readonly onError?: (error: RaftError, remote: string) => void;
}

export interface ResolvedTransportOptions {
  readonly clusterName: string;
  readonly maxFrameBytes: number;
  readonly maxQueuedFrames: number;
  readonly maxQueuedBytes: number;
  readonly maxPendingRequests: number;
  readonly maxConcurrentRequests: number;
  readonly defaultRequestTimeoutMs: number;
  readonly onUnreachable: (peerId: NodeId, groupId: string) => void;
  readonly onError: (error: RaftError, remote: string) => void;
}

export function resolveTransportOptions(options: TransportOptions): ResolvedTransportOptions {
  validateName(options.clusterName ?? "", "clusterName");
  const resolved: ResolvedTransportOptions = {
    clusterName: options.clusterName,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    maxQueuedFrames: options.maxQueuedFrames ?? 4096,
    maxQueuedBytes: options.maxQueuedBytes ?? 64 * 1024 * 1024,
    maxPendingRequests: options.maxPendingRequests ?? 1024,
    maxConcurrentRequests: options.maxConcurrentRequests ?? 256,
    defaultRequestTimeoutMs: options.defaultRequestTimeoutMs ?? 5000,
    onUnreachable: options.onUnreachable ?? (() => {}),
    onError: options.onError ?? (() => {}),
  };
  validateMaxFrameBytes(resolved.maxFrameBytes);
  positiveInteger(resolved.maxQueuedFrames, "maxQueuedFrames");
  positiveInteger(resolved.maxQueuedBytes, "maxQueuedBytes");
  positiveInteger(resolved.maxPendingRequests, "maxPendingRequests");
  positiveInteger(resolved.maxConcurrentRequests, "maxConcurrentRequests");
  positiveInteger(resolved.defaultRequestTimeoutMs, "defaultRequestTimeoutMs");
  return resolved;
}

export function positiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RaftError("EINVAL", `${what} must be a positive integer, got ${value}`);
}

export function requestTimeoutMs(options: RequestOptions | undefined, defaultMs: number): number {
  const timeoutMs = options?.timeoutMs ?? defaultMs;
  positiveInteger(timeoutMs, "timeoutMs");
  return timeoutMs;
}

export function tooLarge(what: string, frameBytes: number, maxFrameBytes: number, hint: string): RaftError {
  return new RaftError("EINVAL", `${what} makes a frame of ${frameBytes} bytes, above maxFrameBytes ${maxFrameBytes}; ${hint}`);
}
