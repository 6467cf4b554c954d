/**
 * The Transport over TCP, or TLS with mutual authentication when configured;
 * either may add a cluster secret that both ends of every connection prove.
 * One listener serves every group in the process; one outbound connection per
 * remote process carries everything we send it, and its answers come back on
 * the same connection. (So two processes that talk both ways hold two
 * connections, one opened by each: neither side has to decide who dials.)
 */
import net from "node:net";
import tls from "node:tls";
import { RaftError } from "../errors.js";
import type { Message } from "../core/messages.js";
import { validateBackoff } from "./backoff.js";
import { clusterSecretBytes } from "./cluster-auth.js";
import { InboundConnection, type InboundOptions } from "./inbound-connection.js";
import { OutboundConnection, type OutboundOptions, type TlsOptions } from "./outbound-connection.js";
import { parseAddress } from "./peer-address.js";
import { TransportBase } from "./transport-base.js";
import { positiveInteger, resolveTransportOptions, type RequestOptions, type Transport, type TransportOptions } from "./transport.js";

export type { TlsOptions } from "./outbound-connection.js";

export interface TcpTransportOptions extends TransportOptions {
  /** Where to listen; port 0 picks a free port. Omit for a transport that only sends requests. */
  readonly listen?: { readonly host: string; readonly port: number };
  /** The host peers dial, when listening on a wildcard such as 0.0.0.0. */
  readonly advertisedHost?: string;
  /** The port peers dial, when it is not the listening one (behind a proxy or NAT). */
  readonly advertisedPort?: number;
  /** TCP connect, TLS and our handshake together. Default 1000 ms, as SOFAJraft's rpcConnectTimeoutMs. */
  readonly connectTimeoutMs?: number;
  /** First reconnect delay; it doubles per consecutive failure. Default 100 ms. */
  readonly reconnectMinDelayMs?: number;
  /** Default 5000 ms. */
  readonly reconnectMaxDelayMs?: number;
  /** Accepted connections beyond this are refused by the listener. Default 1024. */
  readonly maxInboundConnections?: number;
  /** Mutual TLS on both the listener and the outbound connections. */
  readonly tls?: TlsOptions;
  /**
   * Every connection, both ways, proves this shared secret in a challenge-response
   * (cluster-auth.ts): 32 to 4096 bytes (`openssl rand -hex 32`). Without TLS, it is what
   * keeps other processes from voting, appending or calling the services.
   */
  readonly clusterSecret?: string | Uint8Array;
}

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", ""]);

export class TcpTransport extends TransportBase implements Transport {
  private readonly outbound = new Map<string, OutboundConnection>();
  private readonly inbound = new Set<InboundConnection>();

  private constructor(
    protected override readonly options: OutboundOptions & InboundOptions,
    private readonly server: net.Server | null,
    readonly localAddress: string | null,
  ) {
    super(options);
  }

  /** Validates the options, starts listening (when asked to), and resolves once it does. */
  static async start(options: TcpTransportOptions): Promise<TcpTransport> {
    const base = resolveTransportOptions(options);
    const connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    positiveInteger(connectTimeoutMs, "connectTimeoutMs");
    const maxInboundConnections = options.maxInboundConnections ?? 1024;
    positiveInteger(maxInboundConnections, "maxInboundConnections");
    const resolved: OutboundOptions & InboundOptions = {
      ...base,
      connectTimeoutMs,
      handshakeTimeoutMs: connectTimeoutMs,
      reconnectMinDelayMs: options.reconnectMinDelayMs ?? 100,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 5000,
      tls: options.tls ?? null,
      clusterSecret: options.clusterSecret === undefined ? null : clusterSecretBytes(options.clusterSecret),
    };
    validateBackoff(resolved);
    if (resolved.tls !== null) {
      // Bad PEM would otherwise surface at the first connection, far from its cause.
      try {
        tls.createSecureContext(resolved.tls);
      } catch (error) {
        throw new RaftError("EINVAL", `tls options are unusable: ${(error as Error).message}`);
      }
    }
    if (options.listen === undefined) return new TcpTransport(resolved, null, null);

    const { host, port } = options.listen;
    const advertisedHost = options.advertisedHost ?? host;
    if (WILDCARD_HOSTS.has(advertisedHost)) {
      throw new RaftError("EINVAL", `listening on "${host}" needs advertisedHost: the address peers dial to reach this process`);
    }
    const server = createServer(resolved, maxInboundConnections);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    }).catch((error: Error) => {
      throw new RaftError("EINVAL", `cannot listen on ${host}:${port}: ${error.message}`);
    });
    const boundPort = (server.address() as net.AddressInfo).port;
    const localAddress = parseAddress(`${advertisedHost}:${options.advertisedPort ?? boundPort}`).address;
    const transport = new TcpTransport(resolved, server, localAddress);
    transport.serve(server);
    return transport;
  }

  sendRaft(groupId: string, message: Message): void {
    const out = this.raftFrame(groupId, message);
    if (out !== null && !this.connectionTo(out.address).sendRaft(groupId, message.to, out.frame)) this.dropped(groupId, message);
  }

  request(address: string, service: string, payload: Uint8Array, options?: RequestOptions): Promise<Buffer> {
    try {
      const { remote, timeoutMs } = this.requestTarget(address, service, options);
      return this.connectionTo(remote).request(service, payload, timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const connection of this.outbound.values()) connection.close();
    this.outbound.clear();
    if (this.server === null) return;
    const server = this.server;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.inbound) connection.shutdown();
    await stopped;
  }

  private connectionTo(address: string): OutboundConnection {
    let connection = this.outbound.get(address);
    if (connection === undefined) {
      connection = new OutboundConnection(parseAddress(address), this.localAddress, this.options, this.counters);
      this.outbound.set(address, connection);
    }
    return connection;
  }

  private serve(server: net.Server): void {
    const accept = (socket: net.Socket): void => {
      if (this.closed) {
        socket.destroy();
        return;
      }
      const connection = new InboundConnection(socket, this.routes, this.options, this.counters, (gone) => this.inbound.delete(gone));
      this.inbound.add(connection);
    };
    if (this.options.tls === null) {
      server.on("connection", accept);
    } else {
      server.on("secureConnection", accept);
      server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
        this.counters.protocolErrors++;
        const reason = socket.authorizationError
          ? `the peer's certificate is not trusted (${String(socket.authorizationError)})`
          : /wrong version number|http request/.test(error.message)
            ? "the peer does not speak TLS"
            : error.message;
        const why = `TLS handshake refused: ${reason}; both ends need certificates signed by the cluster CA (tls.ca, --tls-ca)`;
        this.options.onError(new RaftError("EAUTH", why), `${socket.remoteAddress}:${socket.remotePort}`);
      });
    }
    server.on("error", (error: Error) => this.options.onError(new RaftError("EAGAIN", `listener error: ${error.message}`), this.localAddress ?? ""));
  }
}

function createServer(options: OutboundOptions, maxInboundConnections: number): net.Server {
  const server =
    options.tls === null
      ? net.createServer()
      : tls.createServer({ ...options.tls, requestCert: true, rejectUnauthorized: true, handshakeTimeout: options.connectTimeoutMs });
  server.maxConnections = maxInboundConnections;
  return server;
}
