/**
 * A TCP proxy in front of one server, for partitions without root: peers and
 * clients dial the server's peer id, where the proxy listens, and the proxy
 * forwards to the server's real listener. It reads the dialer's first frame,
 * the transport's hello (plain TCP only: the nemesis runs without TLS), to
 * learn which server is calling; clients say no address and always pass.
 *
 * A blocked sender's connections are cut, and its new ones are held open and
 * read into the void, as a dropped link looks (its requests time out rather
 * than being refused at once); healing closes those so the sender redials.
 */
import net from "node:net";
import { once } from "node:events";
import { RaftError } from "../errors.js";
import { FRAME_HEADER_BYTES, FrameKind } from "../transport/frame.js";
import { decodeHello } from "../transport/protocol.js";

/** A hello is a few short names; anything longer is not one. */
const MAX_HELLO_BYTES = 4096;
/** Connections held at once (peers reconnect with backoff; clients are few). */
const MAX_CONNECTIONS = 512;

interface ProxiedConnection {
  readonly downstream: net.Socket;
  upstream: net.Socket | null;
  /** The calling server's address, "" for a client; null until its hello is read. */
  sender: string | null;
}

export class FaultProxy {
  private readonly connections = new Set<ProxiedConnection>();
  private blockedSenders = new Set<string>();
  /** Open connections a partition cut, since start. */
  cutConnections = 0;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { readonly host: string; readonly port: number },
  ) {
    server.on("connection", (socket) => this.accept(socket));
  }

  /** Listens on `listen` and forwards to `target`. */
  static async start(listen: { host: string; port: number }, target: { host: string; port: number }): Promise<FaultProxy> {
    const server = net.createServer({ noDelay: true });
    server.listen(listen.port, listen.host);
    await once(server, "listening");
    return new FaultProxy(server, target);
  }

  /** Cuts the given senders off (replacing the previous set); an empty set heals. */
  block(senders: Iterable<string>): void {
    const previous = this.blockedSenders;
    this.blockedSenders = new Set(senders);
    for (const connection of [...this.connections]) {
      if (connection.sender === null || connection.sender === "") continue;
      const blockedNow = this.blockedSenders.has(connection.sender);
      // Newly blocked: cut. Healed: close the held socket so the sender dials again.
      if (blockedNow !== previous.has(connection.sender)) this.drop(connection, blockedNow);
    }
  }

  async close(): Promise<void> {
    for (const connection of [...this.connections]) this.drop(connection, false);
    this.server.close();
    await once(this.server, "close");
  }

  private accept(downstream: net.Socket): void {
    if (this.connections.size >= MAX_CONNECTIONS) {
      downstream.destroy();
      return;
    }
    downstream.setNoDelay(true);
    const connection: ProxiedConnection = { downstream, upstream: null, sender: null };
    this.connections.add(connection);
    downstream.on("error", () => this.drop(connection, false));
    downstream.on("close", () => this.drop(connection, false));
    let head = Buffer.alloc(0);
    const readHello = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const sender = senderOf(head);
      if (sender === undefined) return;
      downstream.off("data", readHello);
      connection.sender = sender;
      if (sender !== "" && this.blockedSenders.has(sender)) {
        downstream.on("data", () => {});
        return;
      }
      this.forward(connection, head);
    };
    downstream.on("data", readHello);
  }

  private forward(connection: ProxiedConnection, head: Buffer): void {
    const { downstream } = connection;
    downstream.pause();
    const upstream = net.connect({ host: this.target.host, port: this.target.port, noDelay: true });
    connection.upstream = upstream;
    upstream.on("error", () => this.drop(connection, false));
    upstream.on("close", () => this.drop(connection, false));
    upstream.write(head);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    downstream.resume();
  }

  private drop(connection: ProxiedConnection, cut: boolean): void {
    if (!this.connections.delete(connection)) return;
    if (cut) this.cutConnections++;
    connection.downstream.destroy();
    connection.upstream?.destroy();
  }
}

/**
 * The sender address in a stream's first frame: undefined while the frame is
 * incomplete, "" for a client or for anything that is not a hello (the server
 * behind will refuse it itself).
 */
function senderOf(head: Buffer): string | undefined {
  if (head.length < FRAME_HEADER_BYTES) return undefined;
  const bodyBytes = head.readUInt32BE(0);
  if (head[4] !== FrameKind.Hello || bodyBytes > MAX_HELLO_BYTES) return "";
  if (head.length < FRAME_HEADER_BYTES + bodyBytes) return undefined;
  try {
    return decodeHello(head.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + bodyBytes)).senderAddress;
  } catch (error) {
    if (error instanceof RaftError) return "";
    throw error;
  }
}
