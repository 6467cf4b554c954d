/**
 * The Transport in memory, for tests: no sockets, same semantics. Messages
 * and requests are encoded into the same frames as over TCP (so the codecs,
 * the frame size limit and the receiver's copy of the bytes are all real) and
 * delivered on a later turn of the event loop, in order per sender and
 * receiver. Each link is bounded like a TCP connection's send queue.
 */
import { RaftError } from "../errors.js";
import type { Message } from "../core/messages.js";
import { FRAME_HEADER_BYTES } from "./frame.js";
import { remoteError, type RequestOutcome } from "./local-routes.js";
import { parseAddress } from "./peer-address.js";
import { PendingRequests } from "./pending-requests.js";
import { decodeRaft, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from "./protocol.js";
import { TransportBase } from "./transport-base.js";
import { resolveTransportOptions, tooLarge, type RequestOptions, type ResolvedTransportOptions, type Transport, type TransportOptions } from "./transport.js";

/** The processes of one in-memory cluster, by address. */
export class MemoryNetwork {
  private readonly transports = new Map<string, MemoryTransport>();

  /** A transport reachable at `address` (host:port) by the others in this network. */
  createTransport(options: MemoryTransportOptions): MemoryTransport {
    const address = parseAddress(options.address).address;
    if (this.transports.has(address)) throw new RaftError("EINVAL", `address ${address} is already taken in this memory network`);
    const transport = new MemoryTransport(this, address, resolveTransportOptions(options));
    this.transports.set(address, transport);
    return transport;
  }

  lookup(address: string): MemoryTransport | undefined {
    return this.transports.get(address);
  }

  remove(transport: MemoryTransport): void {
    if (this.transports.get(transport.localAddress) === transport) this.transports.delete(transport.localAddress);
  }
}

export interface MemoryTransportOptions extends TransportOptions {
  readonly address: string;
}

/** What one sender has in flight to one receiver: the in-memory stand-in for a connection. */
interface Link {
  frames: number;
  bytes: number;
  readonly pending: PendingRequests;
}

export class MemoryTransport extends TransportBase implements Transport {
  private readonly links = new Map<string, Link>();
  private concurrentRequests = 0;

  constructor(
    private readonly network: MemoryNetwork,
    readonly localAddress: string,
    options: ResolvedTransportOptions,
  ) {
    super(options);
  }

  sendRaft(groupId: string, message: Message): void {
    const out = this.raftFrame(groupId, message);
    if (out === null) return;
    const { address, frame } = out;
    const unreachable = (): void => this.dropped(groupId, message);
    const link = this.linkTo(address);
    if (this.network.lookup(address) === undefined || !this.reserve(link, frame)) {
      unreachable();
      return;
    }
    setImmediate(() => {
      this.release(link, frame);
      const receiver = this.network.lookup(address);
      if (this.closed || receiver === undefined) {
        unreachable();
        return;
      }
      const refusal = receiver.receiveRaft(frame, this.localAddress);
      // Over TCP the receiver would close the connection with this error.
      if (refusal !== null) this.options.onError(remoteError(refusal, address), address);
    });
  }

  request(address: string, service: string, payload: Uint8Array, options?: RequestOptions): Promise<Buffer> {
    try {
      const { remote, timeoutMs } = this.requestTarget(address, service, options);
      if (this.network.lookup(remote) === undefined) throw new RaftError("EAGAIN", `no transport at ${remote} in this memory network`);
      const link = this.linkTo(remote);
      const { requestId, answer } = link.pending.add(remote, service, timeoutMs);
      const frame = encodeRequest(requestId, service, payload);
      if (frame.length > this.options.maxFrameBytes) {
        link.pending.settle(requestId, { ok: false, error: tooLarge(`a "${service}" request`, frame.length, this.options.maxFrameBytes, "send it in chunks") });
      } else if (!this.reserve(link, frame)) {
        this.counters.requestsRefusedBusy++;
        link.pending.settle(requestId, { ok: false, error: new RaftError("EBUSY", `the send queue to ${remote} is full (${link.frames} frames, ${link.bytes} bytes); retry later`) });
      } else {
        setImmediate(() => this.deliverRequest(link, remote, frame));
      }
      return answer;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.network.remove(this);
    for (const link of this.links.values()) link.pending.rejectAll(new RaftError("ESHUTDOWN", "the transport is closed; the request may or may not have been processed"));
  }

  /** Receiver side of a Raft frame; returns the error that would close a TCP connection, or null. */
  private receiveRaft(frame: Buffer, from: string): RaftError | null {
    this.countReceived(frame);
    try {
      const { groupId, message } = decodeRaft(frame.subarray(FRAME_HEADER_BYTES));
      const onMessage = this.routes.route(groupId, message.to);
      try {
        onMessage(message);
      } catch (error) {
        const text = error instanceof Error ? error.message : String(error);
        this.counters.protocolErrors++;
        this.options.onError(new RaftError("ESTATEMACHINE", `the handler of group "${groupId}" peer ${message.to} threw on a ${message.type} message: ${text}`), from);
      }
      return null;
    } catch (error) {
      const refusal = error instanceof RaftError ? error : new RaftError("ECORRUPT", String(error));
      this.counters.protocolErrors++;
      this.options.onError(refusal, from);
      return refusal;
    }
  }

  /** Receiver side of a request: answers it, bounded like a TCP listener's connection. */
  private async answerRequest(frame: Buffer, from: string): Promise<Buffer> {
    this.countReceived(frame);
    const { requestId, service, payload } = decodeRequest(frame.subarray(FRAME_HEADER_BYTES));
    let outcome: RequestOutcome;
    if (this.closed) {
      outcome = { ok: false, error: new RaftError("ESHUTDOWN", "the peer is shutting down") };
    } else if (this.concurrentRequests >= this.options.maxConcurrentRequests) {
      this.counters.requestsRefusedBusy++;
      outcome = { ok: false, error: new RaftError("EBUSY", `${this.concurrentRequests} requests are being handled (maxConcurrentRequests); retry later`) };
    } else {
      this.concurrentRequests++;
      outcome = await this.routes.answer(service, payload, from);
      this.concurrentRequests--;
    }
    let response = encodeResponse(requestId, outcome);
    if (response.length > this.options.maxFrameBytes) {
      response = encodeResponse(requestId, { ok: false, error: tooLarge(`the answer of service "${service}"`, response.length, this.options.maxFrameBytes, "answer in chunks") });
    }
    this.counters.framesSent++;
    this.counters.bytesSent += response.length;
    return response;
  }

  private deliverRequest(link: Link, remote: string, frame: Buffer): void {
    this.release(link, frame);
    const receiver = this.network.lookup(remote);
    if (receiver === undefined) {
      const { requestId } = decodeRequest(frame.subarray(FRAME_HEADER_BYTES));
      link.pending.settle(requestId, { ok: false, error: new RaftError("EAGAIN", `${remote} left the memory network before the request reached it`) });
      return;
    }
    void receiver.answerRequest(frame, this.localAddress).then((response) =>
      setImmediate(() => {
        if (this.closed) return;
        this.countReceived(response);
        const answer = decodeResponse(response.subarray(FRAME_HEADER_BYTES));
        link.pending.settle(answer.requestId, answer.ok ? answer : { ok: false, error: remoteError(answer.error, remote) });
      }),
    );
  }

  private linkTo(address: string): Link {
    let link = this.links.get(address);
    if (link === undefined) {
      link = { frames: 0, bytes: 0, pending: new PendingRequests(this.options.maxPendingRequests, this.counters) };
      this.links.set(address, link);
    }
    return link;
  }

  private reserve(link: Link, frame: Buffer): boolean {
    if (link.frames >= this.options.maxQueuedFrames || link.bytes + frame.length > this.options.maxQueuedBytes) return false;
    link.frames++;
    link.bytes += frame.length;
    this.counters.framesSent++;
    this.counters.bytesSent += frame.length;
    return true;
  }

  private release(link: Link, frame: Buffer): void {
    link.frames--;
    link.bytes -= frame.length;
  }

  private countReceived(frame: Buffer): void {
    this.counters.framesReceived++;
    this.counters.bytesReceived += frame.length;
  }
}
