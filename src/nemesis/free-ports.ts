/** Free TCP ports on loopback. */
import { once } from "node:events";
import net from "node:net";

/**
 * Ports the OS just handed out, released for servers to take. Take all a run
 * needs at once and start the servers right after: the OS may hand a released
 * port to someone else later.
 */
export async function freePorts(count: number): Promise<number[]> {
  const listeners = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = net.createServer().listen(0, "127.0.0.1");
      await once(server, "listening");
      return server;
    }),
  );
  const ports = listeners.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(listeners.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
