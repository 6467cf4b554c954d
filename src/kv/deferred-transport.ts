/**
 * A Transport for requests whose real transport is still starting: the KV
 * client is built synchronously, its TcpTransport starts asynchronously, and
 * the RouteTable's CliService needs a transport at once.
 */
import { RaftError } from "../errors.js";
import { emptyStats, type RequestOptions, type Transport, type TransportStats } from "../transport/transport.js";

export class DeferredTransport implements Transport {
  private ready: Transport | null = null;

  constructor(private readonly started: Promise<Transport>) {
    started.then(
      (transport) => (this.ready = transport),
      () => {}, // each request reports the failure
    );
  }

  get localAddress(): string | null {
    return this.ready?.localAddress ?? null;
  }

  registerGroup(): void {
    throw new RaftError("EINVAL", "this transport carries requests only");
  }

  unregisterGroup(): void {}

  sendRaft(): void {
    throw new RaftError("EINVAL", "this transport carries requests only");
  }

  handle(): void {
    throw new RaftError("EINVAL", "this transport carries requests only");
  }

  async request(address: string, service: string, payload: Uint8Array, options?: RequestOptions): Promise<Buffer> {
    return (this.ready ?? (await this.started)).request(address, service, payload, options);
  }

  stats(): TransportStats {
    return this.ready?.stats() ?? emptyStats();
  }

  /** The real transport's owner closes it. */
  async close(): Promise<void> {}
}
