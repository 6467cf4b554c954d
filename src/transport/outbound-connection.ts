/**
 * The one connection from this process to another, shared by every group
 * (Raft messages) and every service (requests) that talks to it.
 *
 * Lazily opened on the first send; the handshake (magic, version, cluster
 * name, and the cluster secret's challenge both ways when one is set: see
 * cluster-auth.ts) must be accepted before any queued frame is written. When it fails,
 * it stays down for a backoff delay: meanwhile Raft messages are dropped and
 * requests fail fast with EAGAIN (EAUTH after a refused authentication),
 * rather than piling up behind a dead peer.
 * The next send after the delay reconnects, so an idle dead peer costs nothing.
 */
import net from "node:net";
import tls from "node:tls";
import { RaftError } from "../errors.js";
import type { NodeId } from "../core/types.js";
import { reconnectDelayMs, type BackoffOptions } from "./backoff.js";
import { decodeAuthChallenge, encodeAuthProof, handshakeProof, newNonce, proofMatches } from "./cluster-auth.js";
import { FrameDecoder, FrameKind, frameKindName, type Frame } from "./frame.js";
import { remoteError } from "./local-routes.js";
import type { PeerAddress } from "./peer-address.js";
import { PendingRequests } from "./pending-requests.js";
import { decodeError, decodeResponse, encodeError, encodeHello, encodeRequest, PROTOCOL_MAGIC, PROTOCOL_VERSION } from "./protocol.js";
import { SendQueue } from "./send-queue.js";
import { closedDuringHandshake, tlsSocketError } from "./tls-failure.js";
import { tooLarge, type ResolvedTransportOptions, type TransportStats } from "./transport.js";

export interface TlsOptions {
  /** The CA (PEM) that signed every peer's certificate; peers are authenticated both ways. */
  readonly ca: string | Buffer;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface OutboundOptions extends ResolvedTransportOptions, BackoffOptions {
  readonly connectTimeoutMs: number;
  readonly tls: TlsOptions | null;
  /** Proven to each peer, and asked of it, at every connect (cluster-auth.ts); null: none. */
  readonly clusterSecret: Buffer | null;
}

type State = "idle" | "connecting" | "ready" | "down" | "closed";

/** How long a socket we closed with an error frame may linger for the peer to read why. */
const ERROR_LINGER_MS = 500;
/** Idle time before TCP probes a quiet connection (no Raft traffic, only requests) for a dead peer. */
const KEEPALIVE_IDLE_MS = 10_000;

export class OutboundConnection {
  private state: State = "idle";
  private socket: net.Socket | null = null;
  private decoder: FrameDecoder;
  private readonly queue: SendQueue;
  private readonly pending: PendingRequests;
  private connectTimer: NodeJS.Timeout | null = null;
  private attempts = 0;
  private consecutiveFailures = 0;
  private retryAtMs = 0;
  private lastFailure: RaftError | null = null;
  /** The proof the peer's HelloOk must carry, once we answered its challenge. */
  private expectedAcceptorProof: Buffer | null = null;
  private flushScheduled = false;
  private waitingForDrain = false;

  constructor(
    private readonly remote: PeerAddress,
    private readonly localAddress: string | null,
    private readonly options: OutboundOptions,
    private readonly stats: TransportStats,
  ) {
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    this.queue = new SendQueue(options.maxQueuedFrames, options.maxQueuedBytes);
    this.pending = new PendingRequests(options.maxPendingRequests, stats);
  }

  /** False when the message was not queued (peer down, or queue full): the caller drops it. */
  sendRaft(groupId: string, peerId: NodeId, frame: Buffer): boolean {
    if (!this.ensureConnection()) return false;
    if (!this.queue.offer({ frame, raft: { groupId, peerId } })) return false;
    this.scheduleFlush();
    return true;
  }

  request(service: string, payload: Uint8Array, timeoutMs: number): Promise<Buffer> {
    if (this.state === "closed") return Promise.reject(new RaftError("ESHUTDOWN", "the transport is closed"));
    if (!this.ensureConnection()) {
      // A refused authentication stays one until the credentials change: not worth a retry.
      if (this.lastFailure?.code === "EAUTH") return Promise.reject(this.lastFailure);
      const waitMs = Math.max(0, this.retryAtMs - Date.now());
      return Promise.reject(new RaftError("EAGAIN", `no connection to ${this.remote.address} (${this.lastFailure?.message}); next attempt in ${waitMs} ms`));
    }
    let added: { requestId: number; answer: Promise<Buffer> };
    try {
      added = this.pending.add(this.remote.address, service, timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    const frame = encodeRequest(added.requestId, service, payload);
    if (frame.length > this.options.maxFrameBytes) {
      this.pending.settle(added.requestId, { ok: false, error: tooLarge(`a "${service}" request`, frame.length, this.options.maxFrameBytes, "send it in chunks") });
    } else if (!this.queue.offer({ frame, raft: null })) {
      this.stats.requestsRefusedBusy++;
      const error = new RaftError("EBUSY", `the send queue to ${this.remote.address} is full (${this.queue.frames} frames, ${this.queue.bytes} bytes); retry later`);
      this.pending.settle(added.requestId, { ok: false, error });
    } else {
      this.scheduleFlush();
    }
    return added.answer;
  }

  close(): void {
    if (this.state === "closed") return;
    const socket = this.socket;
    this.detach();
    this.state = "closed";
    this.stats.raftMessagesDropped += this.queue.clear().filter((item) => item.raft !== null).length;
    this.pending.rejectAll(new RaftError("ESHUTDOWN", `the transport is closed; the request to ${this.remote.address} may or may not have been processed`));
    socket?.destroy();
  }

  /** True when frames may be queued now; opens the connection if it is time to. */
  private ensureConnection(): boolean {
    switch (this.state) {
      case "ready":
      case "connecting":
        return true;
      case "closed":
        return false;
      case "down":
        if (Date.now() < this.retryAtMs) return false;
        this.connect();
        return true;
      case "idle":
        this.connect();
        return true;
    }
  }

  private connect(): void {
    this.state = "connecting";
    if (this.attempts > 0) this.stats.reconnects++;
    this.attempts++;
    this.decoder = new FrameDecoder(this.options.maxFrameBytes);
    this.waitingForDrain = false;
    this.expectedAcceptorProof = null;
    const { host, port } = this.remote;
    const tlsOptions = this.options.tls;
    const socket = tlsOptions === null ? net.connect({ host, port }) : tls.connect({ host, port, ...tlsOptions, rejectUnauthorized: true });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    this.connectTimer = setTimeout(() => {
      this.fail(socket, new RaftError("ETIMEDOUT", `could not connect to ${this.remote.address} and finish the handshake within ${this.options.connectTimeoutMs} ms (connectTimeoutMs)`));
    }, this.options.connectTimeoutMs);
    // The socket holds writes until it is connected (and, with TLS, secured).
    this.write(socket, encodeHello({ magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, clusterName: this.options.clusterName, senderAddress: this.localAddress ?? "" }));
    socket.on("data", (chunk: Buffer) => this.onData(socket, chunk));
    socket.on("error", (error) => this.fail(socket, tlsSocketError(error, this.remote.address) ?? new RaftError("EAGAIN", `connection to ${this.remote.address} failed: ${error.message}`)));
    socket.on("close", () => {
      const cause = this.state === "connecting" ? closedDuringHandshake(socket, this.remote.address) : new RaftError("EAGAIN", `connection to ${this.remote.address} was closed by the peer`);
      this.fail(socket, cause);
    });
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.stats.bytesReceived += chunk.length;
    try {
      for (const frame of this.decoder.push(chunk)) {
        this.stats.framesReceived++;
        this.onFrame(socket, frame);
        if (socket !== this.socket) return;
      }
    } catch (error) {
      this.stats.protocolErrors++;
      const cause = error instanceof RaftError ? error : new RaftError("ECORRUPT", `bad frame from ${this.remote.address}: ${String(error)}`);
      this.fail(socket, cause, true);
    }
  }

  private onFrame(socket: net.Socket, frame: Frame): void {
    if (frame.kind === FrameKind.Error) {
      this.fail(socket, remoteError(decodeError(frame.body), this.remote.address));
      return;
    }
    if (this.state === "connecting" && frame.kind === FrameKind.AuthChallenge) {
      this.answerChallenge(socket, frame.body);
      return;
    }
    if (this.state === "connecting" && frame.kind === FrameKind.HelloOk) {
      this.checkHelloOk(frame.body);
      clearTimeout(this.connectTimer!);
      this.connectTimer = null;
      this.state = "ready";
      this.consecutiveFailures = 0;
      this.lastFailure = null;
      this.stats.openOutboundConnections++;
      this.flush();
      return;
    }
    if (this.state === "ready" && frame.kind === FrameKind.Response) {
      const response = decodeResponse(frame.body);
      // An unknown id is an answer that came after its request timed out.
      this.pending.settle(response.requestId, response.ok ? response : { ok: false, error: remoteError(response.error, this.remote.address) });
      return;
    }
    throw new RaftError("ECORRUPT", `unexpected ${frameKindName(frame.kind)} frame from ${this.remote.address} while ${this.state}`);
  }

  private answerChallenge(socket: net.Socket, body: Buffer): void {
    const secret = this.options.clusterSecret;
    if (secret === null) {
      throw new RaftError("EAUTH", `cluster secret missing: ${this.remote.address} requires one and the process dialing it has none; give that process the cluster's secret (--cluster-secret-file, TSRAFT_CLUSTER_SECRET, or clusterSecret)`);
    }
    if (this.expectedAcceptorProof !== null) throw new RaftError("ECORRUPT", `${this.remote.address} sent a second cluster-secret challenge`);
    const acceptorNonce = decodeAuthChallenge(body);
    const dialerNonce = newNonce();
    const transcript = { version: PROTOCOL_VERSION, clusterName: this.options.clusterName, senderAddress: this.localAddress ?? "", acceptorNonce, dialerNonce };
    this.expectedAcceptorProof = handshakeProof(secret, "acceptor", transcript);
    this.write(socket, encodeAuthProof(dialerNonce, handshakeProof(secret, "dialer", transcript)));
  }

  /** With a secret, the peer must prove it too: a process that does not know the secret is not the cluster. */
  private checkHelloOk(body: Buffer): void {
    if (this.options.clusterSecret === null) {
      if (body.length !== 0) throw new RaftError("ECORRUPT", `handshake answer from ${this.remote.address} has ${body.length} unexpected bytes`);
      return;
    }
    if (this.expectedAcceptorProof === null) {
      throw new RaftError("EAUTH", `cluster secret missing: ${this.remote.address} runs without one (it asked for no proof), so it cannot prove it belongs to the cluster; give every process of the cluster the same cluster secret`);
    }
    if (!proofMatches(this.expectedAcceptorProof, body)) {
      throw new RaftError("EAUTH", `cluster secret mismatch: ${this.remote.address} failed to prove it holds our cluster secret; give every process of the cluster the same cluster secret`);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.state !== "ready") return;
    this.flushScheduled = true;
    // Sends made in the same tick (heartbeats of many groups) leave in one write.
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes queued frames while the socket has room; the rest waits for 'drain'. */
  private flush(): void {
    const socket = this.socket;
    if (this.state !== "ready" || socket === null || this.waitingForDrain) return;
    socket.cork();
    for (let item = this.queue.shift(); item !== undefined; item = this.queue.shift()) {
      if (!this.write(socket, item.frame)) {
        this.waitingForDrain = true;
        socket.once("drain", () => {
          if (socket !== this.socket) return;
          this.waitingForDrain = false;
          this.flush();
        });
        break;
      }
    }
    socket.uncork();
  }

  private write(socket: net.Socket, frame: Buffer): boolean {
    this.stats.framesSent++;
    this.stats.bytesSent += frame.length;
    return socket.write(frame);
  }

  /** Forgets the current socket; its late events are then ignored. */
  private detach(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.state === "ready") this.stats.openOutboundConnections--;
    this.socket = null;
  }

  /**
   * The connection is lost: back off, drop the queued Raft messages (and say
   * whose), and fail the requests waiting on it with the cause.
   */
  private fail(socket: net.Socket, cause: RaftError, tellPeer = false): void {
    if (socket !== this.socket || this.state === "closed") return;
    // A refused handshake is about every request (wrong cluster, wrong version); a
    // connection lost later is not about any one of them, whatever frame ended it.
    const requestError =
      this.state === "ready" && cause.code !== "EAGAIN"
        ? new RaftError("EAGAIN", `connection to ${this.remote.address} closed before the answer came (${cause.message}); the request may or may not have been processed`)
        : cause;
    this.detach();
    if (tellPeer) {
      this.write(socket, encodeError(cause));
      socket.end();
      setTimeout(() => socket.destroy(), ERROR_LINGER_MS).unref();
    } else {
      socket.destroy();
    }
    this.consecutiveFailures++;
    this.retryAtMs = Date.now() + reconnectDelayMs(this.consecutiveFailures, this.options);
    this.state = "down";
    this.lastFailure = cause;
    this.stats.connectionFailures++;
    const unreachable = new Map<string, { peerId: NodeId; groupId: string }>();
    for (const item of this.queue.clear()) {
      if (item.raft === null) continue;
      this.stats.raftMessagesDropped++;
      unreachable.set(`${item.raft.groupId}\n${item.raft.peerId}`, item.raft);
    }
    this.pending.rejectAll(requestError);
    this.options.onError(cause, this.remote.address);
    for (const { peerId, groupId } of unreachable.values()) this.options.onUnreachable(peerId, groupId);
  }
}
