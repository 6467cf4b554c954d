/**
 * What every Transport implementation shares: the local routes (groups and
 * services), the counters, and the checks before anything is sent.
 */
import { RaftError } from "../errors.js";
import type { Message } from "../core/messages.js";
import type { NodeId } from "../core/types.js";
import { LocalRoutes } from "./local-routes.js";
import { parseAddress, parsePeerId } from "./peer-address.js";
import { encodeRaft, validateName } from "./protocol.js";
import {
  emptyStats,
  requestTimeoutMs,
  tooLarge,
  type RaftMessageHandler,
  type RequestHandler,
  type RequestOptions,
  type ResolvedTransportOptions,
  type TransportStats,
} from "./transport.js";

/** Peer ids whose address is remembered; past it the memory starts over (ids come from configurations, so few). */
const MAX_REMEMBERED_PEER_IDS = 4096;

export abstract class TransportBase {
  protected readonly routes = new LocalRoutes();
  /** Peer id -> `host:port`: parsing the id on every message showed in idle profiles. */
  private readonly peerAddresses = new Map<NodeId, string>();
  protected readonly counters: TransportStats = emptyStats();
  protected closed = false;

  protected constructor(protected readonly options: ResolvedTransportOptions) {}

  registerGroup(groupId: string, nodeId: NodeId, onMessage: RaftMessageHandler): void {
    this.routes.registerGroup(groupId, nodeId, onMessage);
  }

  unregisterGroup(groupId: string, nodeId: NodeId): void {
    this.routes.unregisterGroup(groupId, nodeId);
  }

  handle(service: string, handler: RequestHandler): void {
    this.routes.handle(service, handler);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** The frame of a Raft message and the process it goes to, or null when closed (counted as a drop). */
  protected raftFrame(groupId: string, message: Message): { address: string; frame: Buffer } | null {
    validateName(groupId, "group id");
    const address = this.addressOf(message.to);
    if (this.closed) {
      this.counters.raftMessagesDropped++;
      return null;
    }
    const frame = encodeRaft(groupId, message);
    if (frame.length > this.options.maxFrameBytes) {
      throw tooLarge(`a ${message.type} message to ${message.to}`, frame.length, this.options.maxFrameBytes, "lower the node's maximum bytes per append");
    }
    return { address, frame };
  }

  private addressOf(peerId: NodeId): string {
    let address = this.peerAddresses.get(peerId);
    if (address === undefined) {
      address = parsePeerId(peerId).address;
      if (this.peerAddresses.size >= MAX_REMEMBERED_PEER_IDS) this.peerAddresses.clear();
      this.peerAddresses.set(peerId, address);
    }
    return address;
  }

  /** A Raft message that could not be queued: counted, and the node is told. */
  protected dropped(groupId: string, message: Message): void {
    this.counters.raftMessagesDropped++;
    this.options.onUnreachable(message.to, groupId);
  }

  /** Checks a request's target and service; throws what the caller's promise should reject with. */
  protected requestTarget(address: string, service: string, options: RequestOptions | undefined): { remote: string; timeoutMs: number } {
    const remote = parseAddress(address).address;
    validateName(service, "service name");
    const timeoutMs = requestTimeoutMs(options, this.options.defaultRequestTimeoutMs);
    if (this.closed) throw new RaftError("ESHUTDOWN", "the transport is closed");
    return { remote, timeoutMs };
  }
}
