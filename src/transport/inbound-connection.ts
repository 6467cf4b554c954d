/**
 * The server side of one accepted connection: checks the handshake (and,
 * with a cluster secret, the client's proof: see cluster-auth.ts), hands
 * Raft messages to the local groups and requests to the services, and writes
 * the answers back. Nothing is dispatched before the handshake is complete.
 * Anything it cannot accept — a bad handshake, a failed authentication, a
 * malformed or oversized frame, a group or peer not served here — closes this
 * connection with an Error frame that says why; the process serves on.
 */
import type net from "node:net";
import { RaftError } from "../errors.js";
import { decodeAuthProof, encodeAuthChallenge, encodeHelloOkWithProof, handshakeProof, newNonce, proofMatches, type Transcript } from "./cluster-auth.js";
import { FrameDecoder, FrameKind, frameKindName, type Frame } from "./frame.js";
import type { LocalRoutes } from "./local-routes.js";
import { parseAddress } from "./peer-address.js";
import { decodeError, decodeHello, decodeRaft, decodeRequest, encodeError, encodeHelloOk, encodeResponse, plainMessage, PROTOCOL_VERSION, type Hello } from "./protocol.js";
import { tooLarge, type ResolvedTransportOptions, type TransportStats } from "./transport.js";

export interface InboundOptions extends ResolvedTransportOptions {
  /** A client that connects and does not complete the handshake (authentication included) is closed after this long. */
  readonly handshakeTimeoutMs: number;
  /** Clients must prove they hold it (cluster-auth.ts); null: no challenge. */
  readonly clusterSecret: Buffer | null;
}

/** Where a client stands after its Hello when a cluster secret is set. */
interface Challenge {
  readonly hello: Hello;
  readonly acceptorNonce: Buffer;
}

/** How long a socket we closed with an error frame may linger for the peer to read why. */
const ERROR_LINGER_MS = 500;
/** A TLS ClientHello starts with these bytes; our Hello frame starts with a small length. */
const TLS_HANDSHAKE_RECORD = 0x16;
const TLS_MAJOR_VERSION = 0x03;

export class InboundConnection {
  private state: "handshake" | "authenticating" | "open" | "closing" | "closed" = "handshake";
  private challenge: Challenge | null = null;
  /** The socket's peer until the handshake names the sender's listening address. */
  private remote: string;
  private readonly decoder: FrameDecoder;
  private concurrentRequests = 0;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly socket: net.Socket,
    private readonly routes: LocalRoutes,
    private readonly options: InboundOptions,
    private readonly stats: TransportStats,
    private readonly onClosed: (connection: InboundConnection) => void,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    socket.setNoDelay(true);
    this.timer = setTimeout(() => {
      const error =
        this.state === "authenticating"
          ? new RaftError("EAUTH", `no answer to the cluster-secret challenge within ${options.handshakeTimeoutMs} ms; the peer may run without a cluster secret`)
          : new RaftError("ETIMEDOUT", `no handshake within ${options.handshakeTimeoutMs} ms`);
      this.closeWithError(error);
    }, options.handshakeTimeoutMs);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    // A peer that goes away (its process died, its network broke) is not news: its side reconnects.
    socket.on("error", () => this.onSocketClosed());
    socket.on("close", () => this.onSocketClosed());
  }

  /** The transport is closing: tell the client why, then let go. */
  shutdown(): void {
    this.closeWithError(new RaftError("ESHUTDOWN", "the peer is shutting down"), false);
  }

  private onData(chunk: Buffer): void {
    // After an error frame, the rest of what the peer sends is read and discarded.
    if (!this.reading()) return;
    if (this.state === "handshake" && this.decoder.bufferedByteCount === 0 && chunk[0] === TLS_HANDSHAKE_RECORD && chunk[1] === TLS_MAJOR_VERSION) {
      this.closeWithError(new RaftError("EAUTH", "the peer opened a TLS connection and this process runs without TLS; give every process of the cluster the same TLS settings"));
      return;
    }
    this.stats.bytesReceived += chunk.length;
    try {
      for (const frame of this.decoder.push(chunk)) {
        this.stats.framesReceived++;
        this.onFrame(frame);
        if (!this.reading()) return;
      }
    } catch (error) {
      this.closeWithError(error instanceof RaftError ? error : new RaftError("ECORRUPT", `bad frame: ${String(error)}`));
    }
  }

  private reading(): boolean {
    return this.state !== "closing" && this.state !== "closed";
  }

  private onFrame(frame: Frame): void {
    if (frame.kind === FrameKind.Error) {
      this.closeByPeer(decodeError(frame.body));
      return;
    }
    if (this.state === "handshake") {
      this.acceptHandshake(frame);
      return;
    }
    if (this.state === "authenticating") {
      this.checkProof(frame);
      return;
    }
    switch (frame.kind) {
      case FrameKind.Raft: {
        const { groupId, message } = decodeRaft(frame.body);
        const onMessage = this.routes.route(groupId, message.to);
        try {
          onMessage(message);
        } catch (error) {
          // The node's bug, not the peer's: report it and keep the connection.
          this.stats.protocolErrors++;
          const text = error instanceof Error ? error.message : String(error);
          this.options.onError(new RaftError("ESTATEMACHINE", `the handler of group "${groupId}" peer ${message.to} threw on a ${message.type} message: ${text}`), this.remote);
        }
        return;
      }
      case FrameKind.Request:
        this.serve(frame.body);
        return;
      default:
        throw new RaftError("ECORRUPT", `unexpected ${frameKindName(frame.kind)} frame from a client`);
    }
  }

  private acceptHandshake(frame: Frame): void {
    if (frame.kind !== FrameKind.Hello) throw new RaftError("ECORRUPT", `expected a handshake first, got a ${frameKindName(frame.kind)} frame`);
    const hello = decodeHello(frame.body);
    if (hello.version !== PROTOCOL_VERSION) {
      throw new RaftError("EINVAL", `protocol version ${hello.version} is not supported here (this process speaks version ${PROTOCOL_VERSION}); run one tsraft version across the cluster`);
    }
    if (hello.clusterName !== this.options.clusterName) {
      throw new RaftError("EPERM", `cluster name "${hello.clusterName}" does not match this process's "${this.options.clusterName}"; check the peer's clusterName`);
    }
    if (hello.senderAddress !== "") parseAddress(hello.senderAddress);
    if (this.options.clusterSecret === null) {
      this.open(hello, encodeHelloOk());
      return;
    }
    this.challenge = { hello, acceptorNonce: newNonce() };
    this.state = "authenticating";
    this.send(encodeAuthChallenge(this.challenge.acceptorNonce));
  }

  private checkProof(frame: Frame): void {
    const { hello, acceptorNonce } = this.challenge!;
    const claimed = hello.senderAddress === "" ? "a client" : `a peer that says it is ${hello.senderAddress}`;
    if (frame.kind !== FrameKind.AuthProof) {
      throw new RaftError("EAUTH", `${claimed} sent a ${frameKindName(frame.kind)} frame instead of answering the cluster-secret challenge; give every process of the cluster the same cluster secret`);
    }
    const { dialerNonce, proof } = decodeAuthProof(frame.body);
    const transcript: Transcript = { version: hello.version, clusterName: hello.clusterName, senderAddress: hello.senderAddress, acceptorNonce, dialerNonce };
    if (!proofMatches(handshakeProof(this.options.clusterSecret!, "dialer", transcript), proof)) {
      throw new RaftError("EAUTH", `cluster secret mismatch: the proof of ${claimed} does not match the secret of the process it dialed; give every process of the cluster the same cluster secret`);
    }
    this.challenge = null;
    this.open(hello, encodeHelloOkWithProof(handshakeProof(this.options.clusterSecret!, "acceptor", transcript)));
  }

  /** The client is who it says (as far as this process asks): from now on its frames are served. */
  private open(hello: Hello, helloOk: Buffer): void {
    if (hello.senderAddress !== "") this.remote = parseAddress(hello.senderAddress).address;
    clearTimeout(this.timer);
    this.state = "open";
    this.stats.openInboundConnections++;
    this.send(helloOk);
  }

  /** The client said why it is leaving (a handshake it refused, a frame it could not read): report it, answer nothing. */
  private closeByPeer(error: RaftError): void {
    this.stats.protocolErrors++;
    this.options.onError(new RaftError(error.code, `the peer closed the connection: ${plainMessage(error)}`), this.remote);
    if (this.state === "open") this.stats.openInboundConnections--;
    this.state = "closing";
    clearTimeout(this.timer);
    this.socket.end();
    this.timer = setTimeout(() => this.socket.destroy(), ERROR_LINGER_MS);
    this.timer.unref();
  }

  private serve(body: Buffer): void {
    const { requestId, service, payload } = decodeRequest(body);
    if (this.concurrentRequests >= this.options.maxConcurrentRequests) {
      this.stats.requestsRefusedBusy++;
      const error = new RaftError("EBUSY", `${this.concurrentRequests} requests from ${this.remote} are being handled (maxConcurrentRequests); retry later`);
      this.send(encodeResponse(requestId, { ok: false, error }));
      return;
    }
    this.concurrentRequests++;
    void this.routes.answer(service, payload, this.remote).then((outcome) => {
      this.concurrentRequests--;
      if (this.state !== "open") return;
      let frame = encodeResponse(requestId, outcome);
      if (frame.length > this.options.maxFrameBytes) {
        const error = tooLarge(`the answer of service "${service}"`, frame.length, this.options.maxFrameBytes, "answer in chunks");
        frame = encodeResponse(requestId, { ok: false, error });
      }
      this.send(frame);
    });
  }

  private send(frame: Buffer): void {
    this.stats.framesSent++;
    this.stats.bytesSent += frame.length;
    this.socket.write(frame);
    // Answers are bounded by maxConcurrentRequests, but only if the client reads them.
    if (this.socket.writableLength > this.options.maxQueuedBytes) {
      this.closeWithError(new RaftError("EBUSY", `${this.socket.writableLength} bytes of answers are waiting for ${this.remote} to read them (maxQueuedBytes)`));
    }
  }

  private closeWithError(error: RaftError, report = true): void {
    if (this.state === "closing" || this.state === "closed") return;
    if (report) {
      this.stats.protocolErrors++;
      this.options.onError(error, this.remote);
    }
    if (this.state === "open") this.stats.openInboundConnections--;
    this.state = "closing";
    clearTimeout(this.timer);
    const frame = encodeError(error);
    this.stats.framesSent++;
    this.stats.bytesSent += frame.length;
    this.socket.end(frame);
    // Ending (not destroying) lets the peer read why; one that never reads is cut off.
    this.timer = setTimeout(() => this.socket.destroy(), ERROR_LINGER_MS);
    this.timer.unref();
  }

  private onSocketClosed(): void {
    if (this.state === "closed") return;
    if (this.state === "open") this.stats.openInboundConnections--;
    this.state = "closed";
    clearTimeout(this.timer);
    this.onClosed(this);
  }
}
