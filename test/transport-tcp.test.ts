/** The TCP transport on 127.0.0.1 with ephemeral ports; every test is bounded in time. */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { RaftError } from "../src/errors.js";
import type { Message } from "../src/core/messages.js";
import { encodeFrame, FrameDecoder, FrameKind, type Frame } from "../src/transport/frame.js";
import { decodeError, encodeHello, encodeRaft, PROTOCOL_MAGIC, PROTOCOL_VERSION } from "../src/transport/protocol.js";
import { TcpTransport, type TcpTransportOptions } from "../src/transport/tcp-transport.js";
import { eventually, heartbeat, raftCode, sleep, TEST_TIMEOUT_MS, transportContract } from "./support/transport-contract.js";

const LOOPBACK = { host: "127.0.0.1", port: 0 };
const FAST_RECONNECT = { reconnectMinDelayMs: 20, reconnectMaxDelayMs: 200 };

function start(options: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  return TcpTransport.start({ clusterName: "test", listen: LOOPBACK, ...FAST_RECONNECT, ...options });
}

transportContract("tcp", { create: (overrides) => start(overrides) });

const hello = (overrides: { magic?: number; version?: number; clusterName?: string } = {}) =>
  encodeHello({ magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, clusterName: "test", senderAddress: "", ...overrides });

/** Writes raw bytes to a transport and collects the frames it answers until it closes the connection. */
function rawExchange(address: string, chunks: Buffer[]): Promise<Frame[]> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: host!, port: Number(port) });
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${address} did not close the connection within 2000 ms; got ${frames.map((f) => f.kind).join(",")}`));
    }, 2000);
    socket.on("data", (chunk) => frames.push(...decoder.push(chunk)));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(frames);
    });
    for (const chunk of chunks) socket.write(chunk);
  });
}

/** The error frame a refused connection ends with. */
function refusal(frames: Frame[]): RaftError {
  const last = frames.at(-1);
  assert.ok(last !== undefined && last.kind === FrameKind.Error, `expected an Error frame last, got kinds ${frames.map((f) => f.kind)}`);
  return decodeError(last.body);
}

test("tcp: bad peers get a clear error frame and a closed connection; the transport serves on", { timeout: TEST_TIMEOUT_MS }, async () => {
  const serverErrors: RaftError[] = [];
  const server = await start({ maxFrameBytes: 64 * 1024, connectTimeoutMs: 300, onError: (error) => serverErrors.push(error) });
  const client = await start();
  try {
    const address = server.localAddress!;
    const to = `${address}:0`;
    const got: Message[] = [];
    server.registerGroup("g1", to, (m) => got.push(m));
    server.handle("ok", async (payload) => payload);

    const badKind = encodeFrame(FrameKind.Request, Buffer.from("x"));
    badKind[4] = 99;
    const oversized = Buffer.alloc(5);
    oversized.writeUInt32BE(1 << 30, 0);
    oversized[4] = FrameKind.Raft;
    const cases: Array<[string, Buffer[], string, RegExp]> = [
      ["unknown frame kind", [hello(), badKind], "ECORRUPT", /unknown frame kind 99/],
      ["oversized frame", [hello(), oversized], "ECORRUPT", /exceeds maxFrameBytes 65536/],
      ["truncated Raft body", [hello(), encodeFrame(FrameKind.Raft, Buffer.from([0, 0, 0, 2, 0x67]))], "ECORRUPT", /truncated/],
      ["undecodable Raft message", [hello(), encodeFrame(FrameKind.Raft, Buffer.from([0, 0, 0, 2, 0x67, 0x31, 200]))], "ECORRUPT", /unknown Raft message type 200/],
      ["unknown group", [hello(), encodeRaft("g9", heartbeat("127.0.0.1:1", to, 1))], "EINVAL", /group "g9" is not served by this process \(it serves "g1"\)/],
      ["unknown peer", [hello(), encodeRaft("g1", heartbeat("127.0.0.1:1", `${address}:5`, 1))], "EINVAL", /group "g1" has no peer .*:5/],
      ["frame before the handshake", [encodeFrame(FrameKind.Request, Buffer.alloc(0))], "ECORRUPT", /expected a handshake first, got a Request frame/],
      ["an HTTP client", [Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")], "ECORRUPT", /exceeds maxFrameBytes/],
      // The start of a TLS ClientHello (found by the fuzz: a random two-byte stream).
      ["a TLS client", [Buffer.from([0x16, 0x03])], "EAUTH", /opened a TLS connection and this process runs without TLS/],
      ["wrong magic", [hello({ magic: 0x12345678 })], "ECORRUPT", /magic is 0x12345678.*not a tsraft transport/],
      ["newer protocol version", [hello({ version: PROTOCOL_VERSION + 1 })], "EINVAL", /protocol version 2 is not supported here \(this process speaks version 1\)/],
      ["other cluster", [hello({ clusterName: "staging" })], "EPERM", /cluster name "staging" does not match this process's "test"/],
      ["silence", [], "ETIMEDOUT", /no handshake within 300 ms/],
    ];
    for (const [what, chunks, code, pattern] of cases) {
      const error = refusal(await rawExchange(address, chunks));
      assert.equal(error.code, code, `${what}: ${error.message}`);
      assert.match(error.message, pattern, what);
      assert.match(serverErrors.at(-1)!.message, pattern, `${what}: reported on the server too`);
    }
    assert.equal(server.stats().protocolErrors, cases.length);

    client.sendRaft("g1", heartbeat(`${client.localAddress}:0`, to, 1));
    assert.equal((await client.request(address, "ok", Buffer.from("served"))).toString(), "served");
    await eventually("the good peer's message", () => got.length === 1);
    assert.equal(server.stats().openInboundConnections, 1);
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});

test("tcp: a peer of another cluster is refused at the handshake, and the caller learns why", { timeout: TEST_TIMEOUT_MS }, async () => {
  const server = await start();
  const stranger = await start({ clusterName: "staging" });
  try {
    server.handle("ok", async (payload) => payload);
    await assert.rejects(stranger.request(server.localAddress!, "ok", Buffer.alloc(0)), raftCode("EPERM", /cluster name "staging" does not match this process's "test"/));
  } finally {
    await Promise.all([server.close(), stranger.close()]);
  }
});

test("tcp: reconnects with backoff after the peer closes and starts again on the same port", { timeout: TEST_TIMEOUT_MS }, async () => {
  const unreachable: string[] = [];
  const client = await start({ onUnreachable: (peerId, groupId) => unreachable.push(`${groupId}/${peerId}`) });
  let server = await start();
  const address = server.localAddress!;
  const port = Number(address.split(":")[1]);
  const to = `${address}:0`;
  try {
    server.handle("ping", async () => Buffer.from("pong 1"));
    assert.equal((await client.request(address, "ping", Buffer.alloc(0))).toString(), "pong 1");

    await server.close();
    await eventually("the client to see the connection drop", () => client.stats().connectionFailures >= 1);
    client.sendRaft("g1", heartbeat(`${client.localAddress}:0`, to, 1));
    assert.deepEqual(unreachable, [`g1/${to}`], "a message to a peer that is down is dropped and reported");
    await assert.rejects(client.request(address, "ping", Buffer.alloc(0)), raftCode("EAGAIN", new RegExp(`no connection to ${address}`)));

    server = await start({ listen: { host: "127.0.0.1", port } });
    server.handle("ping", async () => Buffer.from("pong 2"));
    const got: Message[] = [];
    server.registerGroup("g1", to, (m) => got.push(m));
    let answer = "";
    await eventually(
      "a request to go through again",
      () => answer === "pong 2",
      () =>
        void client.request(address, "ping", Buffer.alloc(0)).then(
          (a) => (answer = a.toString()),
          () => {},
        ),
    );
    client.sendRaft("g1", heartbeat(`${client.localAddress}:0`, to, 2));
    await eventually("Raft traffic again", () => got.length === 1);
    const stats = client.stats();
    assert.ok(stats.reconnects >= 1, JSON.stringify(stats));
    assert.ok(stats.raftMessagesDropped >= 1);
    assert.equal(stats.openOutboundConnections, 1);
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});

test("tcp: a full send queue answers EBUSY at once and drops Raft messages; a stuck handshake times out", { timeout: TEST_TIMEOUT_MS }, async () => {
  // A peer that accepts connections and never answers the handshake: everything stays queued.
  const sockets: net.Socket[] = [];
  const silent = net.createServer((socket) => sockets.push(socket.on("error", () => {})));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  const unreachable: string[] = [];
  const client = await start({ maxQueuedFrames: 4, maxQueuedBytes: 2500, connectTimeoutMs: 400, onUnreachable: (peerId) => unreachable.push(peerId) });
  try {
    const queued = [1, 2, 3].map(() => client.request(address, "svc", Buffer.alloc(10), { timeoutMs: 3000 }));
    queued.push(client.request(address, "svc", Buffer.alloc(1000), { timeoutMs: 3000 }));
    const started = Date.now();
    await assert.rejects(client.request(address, "svc", Buffer.alloc(10)), raftCode("EBUSY", /send queue to .* is full \(4 frames/));
    assert.ok(Date.now() - started < 100, "EBUSY comes at once");
    client.sendRaft("g1", heartbeat(`${client.localAddress}:0`, `${address}:0`, 1));
    assert.deepEqual(unreachable, [`${address}:0`]);
    assert.equal(client.stats().raftMessagesDropped, 1);
    assert.equal(client.stats().requestsRefusedBusy, 1);

    // The queued requests fail with the cause once the handshake deadline passes.
    for (const request of queued) await assert.rejects(request, raftCode("ETIMEDOUT", /within 400 ms \(connectTimeoutMs\)/));
    assert.ok(Date.now() - started < 1000);

    // The byte bound: after the backoff, a big request fits once, not twice.
    await sleep(250);
    const big = client.request(address, "svc", Buffer.alloc(1500), { timeoutMs: 3000 });
    await assert.rejects(client.request(address, "svc", Buffer.alloc(1500)), raftCode("EBUSY", /bytes\); retry later/));
    await client.close();
    await assert.rejects(big, raftCode("ESHUTDOWN"));
  } finally {
    await client.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test("tcp: a peer that does not listen is EAGAIN, and the backoff makes the next call fail fast", { timeout: TEST_TIMEOUT_MS }, async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(probe.address() as net.AddressInfo).port}`;
  await new Promise((resolve) => probe.close(resolve));
  const errors: RaftError[] = [];
  const client = await start({ onError: (error) => errors.push(error) });
  try {
    await assert.rejects(client.request(address, "svc", Buffer.alloc(0)), raftCode("EAGAIN", /ECONNREFUSED/));
    await assert.rejects(client.request(address, "svc", Buffer.alloc(0)), raftCode("EAGAIN", /next attempt in \d+ ms/));
    assert.match(errors[0]!.message, new RegExp(`connection to ${address} failed`));
  } finally {
    await client.close();
  }
});

test("tcp: options are validated with clear errors", async () => {
  await assert.rejects(TcpTransport.start({ clusterName: "" }), raftCode("EINVAL", /clusterName/));
  await assert.rejects(start({ maxFrameBytes: 10 }), raftCode("EINVAL", /maxFrameBytes/));
  await assert.rejects(start({ reconnectMinDelayMs: 500, reconnectMaxDelayMs: 100 }), raftCode("EINVAL", /reconnectMinDelayMs <= reconnectMaxDelayMs/));
  await assert.rejects(start({ listen: { host: "0.0.0.0", port: 0 } }), raftCode("EINVAL", /needs advertisedHost/));
  const taken = await start();
  try {
    const port = Number(taken.localAddress!.split(":")[1]);
    await assert.rejects(start({ listen: { host: "127.0.0.1", port } }), raftCode("EINVAL", /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/));
  } finally {
    await taken.close();
  }
});

test("tcp: a transport that does not listen can still make requests", { timeout: TEST_TIMEOUT_MS }, async () => {
  const server = await start();
  const client = await TcpTransport.start({ clusterName: "test" });
  try {
    assert.equal(client.localAddress, null);
    server.handle("whoami", async (_payload, from) => Buffer.from(from));
    const from = (await client.request(server.localAddress!, "whoami", Buffer.alloc(0))).toString();
    assert.match(from, /^127\.0\.0\.1:\d+$/, "without a listening address, the sender is known by its socket");
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});
