/**
 * Authentication of peers and clients: the cluster secret's challenge-response
 * (cluster-auth.ts) and mutual TLS with a cluster CA. First the handshake on
 * bare transports (both sides report a refusal with EAUTH, and nothing a
 * refused connection sends is dispatched: no Raft message, no request); then
 * secured 3-server KV clusters, in-process over TCP, that an unauthenticated
 * process cannot vote in, append to, install a snapshot on, administer with
 * the CLI service, or read and write.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CliService } from "../src/cli/cli-service.js";
import type { Message } from "../src/core/messages.js";
import { EntryType, type NodeId } from "../src/core/types.js";
import { RaftError } from "../src/errors.js";
import { KvClient } from "../src/kv/kv-client.js";
import { startKvProcess, type KvProcess } from "../src/kv/kv-process.js";
import type { RaftNode } from "../src/node/raft-node.js";
import { encodeManifestRequest, MANIFEST_SERVICE } from "../src/node/snapshot-copy-codec.js";
import { encodeAuthProof, handshakeProof, NONCE_BYTES, newNonce } from "../src/transport/cluster-auth.js";
import { encodeFrame, FrameDecoder, FrameKind, type Frame } from "../src/transport/frame.js";
import { decodeError, encodeHello, encodeRaft, PROTOCOL_MAGIC, PROTOCOL_VERSION } from "../src/transport/protocol.js";
import { refusalLogger } from "../src/transport/refusal-log.js";
import { TcpTransport, type TcpTransportOptions, type TlsOptions } from "../src/transport/tcp-transport.js";
import { clusterAndRogueIdentities } from "./support/certificates.js";
import { freePorts } from "./support/kv-cluster.js";
import { waitFor } from "./support/node-cluster.js";
import { eventually, heartbeat, raftCode, TEST_TIMEOUT_MS, transportContract } from "./support/transport-contract.js";

const SECRET = randomBytes(32).toString("hex");
const OTHER_SECRET = randomBytes(32).toString("hex");
const CLUSTER = "auth-test";
const GROUP = "kv";

const identities = clusterAndRogueIdentities();

function start(options: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  return TcpTransport.start({ clusterName: CLUSTER, listen: { host: "127.0.0.1", port: 0 }, reconnectMinDelayMs: 20, reconnectMaxDelayMs: 200, ...options });
}

// Everything the transports promise holds with a secret on every connection.
transportContract("tcp with a cluster secret", { create: (overrides) => start({ clusterSecret: SECRET, ...overrides }) });

function voteRequest(from: NodeId, to: NodeId, term: number): Message {
  return { type: "vote", from, to, term, lastIndex: 1_000_000, lastTerm: term, force: true };
}

function appendRequest(from: NodeId, to: NodeId, term: number): Message {
  return { type: "append", from, to, term, prevIndex: 0, prevTerm: 0, entries: [{ index: 1, term, type: EntryType.Normal, data: new Uint8Array([1]) }], commit: 1 };
}

function snapshotRequest(from: NodeId, to: NodeId, term: number): Message {
  return { type: "snapshot", from, to, term, snapshot: { index: 1_000_000, term, conf: { voters: [from], outgoing: [], learners: [] } } };
}

/** A server whose group and service record what reaches them. */
async function recordingServer(options: Partial<TcpTransportOptions>): Promise<{ server: TcpTransport; delivered: Message[]; served: string[]; errors: RaftError[] }> {
  const errors: RaftError[] = [];
  const server = await start({ ...options, onError: (error) => errors.push(error) });
  const delivered: Message[] = [];
  const served: string[] = [];
  server.registerGroup(GROUP, `${server.localAddress}:0`, (message) => delivered.push(message));
  server.handle("echo", async (payload) => {
    served.push(payload.toString());
    return payload;
  });
  return { server, delivered, served, errors };
}

test("secret: a wrong or missing secret is refused with EAUTH on both sides, and none of its frames is dispatched", { timeout: TEST_TIMEOUT_MS }, async () => {
  const { server, delivered, served, errors } = await recordingServer({ clusterSecret: SECRET });
  const cases: Array<{ what: string; options: Partial<TcpTransportOptions>; client: RegExp; server: RegExp }> = [
    { what: "another secret", options: { clusterSecret: OTHER_SECRET }, client: /cluster secret mismatch/, server: /cluster secret mismatch: the proof of a peer that says it is .* does not match/ },
    { what: "no secret", options: {}, client: /cluster secret missing: .* requires one and the process dialing it has none; give that process the cluster's secret \(--cluster-secret-file/, server: /the peer closed the connection: cluster secret missing/ },
  ];
  try {
    const to = `${server.localAddress}:0`;
    for (const { what, options, client: clientPattern, server: serverPattern } of cases) {
      const intruderErrors: RaftError[] = [];
      const intruder = await start({ ...options, onError: (error) => intruderErrors.push(error) });
      try {
        const from = `${intruder.localAddress}:0`;
        // Sent at once, queued behind the handshake: had the server let them through, they would be dispatched.
        intruder.sendRaft(GROUP, voteRequest(from, to, 100));
        intruder.sendRaft(GROUP, appendRequest(from, to, 100));
        intruder.sendRaft(GROUP, snapshotRequest(from, to, 100));
        await assert.rejects(intruder.request(server.localAddress!, "echo", Buffer.from(what)), raftCode("EAUTH", clientPattern), what);
        await eventually(`${what}: the client's report`, () => intruderErrors.some((e) => e.code === "EAUTH" && clientPattern.test(e.message)));
        await eventually(`${what}: the server's report`, () => errors.some((e) => e.code === "EAUTH" && serverPattern.test(e.message)));
        // Refused stays refused until the credentials change: no retry loop against a wall.
        await assert.rejects(intruder.request(server.localAddress!, "echo", Buffer.from(what)), raftCode("EAUTH"), `${what}: a second request`);
      } finally {
        await intruder.close();
      }
    }
    assert.deepEqual(delivered, [], "no Raft message of a refused connection reached the group");
    assert.deepEqual(served, [], "no request of a refused connection reached the service");

    // The same traffic with the secret goes through: the test above has teeth.
    const friend = await start({ clusterSecret: Buffer.from(SECRET) });
    try {
      friend.sendRaft(GROUP, heartbeat(`${friend.localAddress}:0`, to, 1));
      assert.equal((await friend.request(server.localAddress!, "echo", Buffer.from("friend"))).toString(), "friend");
      await eventually("the friend's message", () => delivered.length === 1);
      assert.deepEqual(served, ["friend"]);
    } finally {
      await friend.close();
    }
  } finally {
    await server.close();
  }
});

test("secret: a client holding the secret refuses a server without it, before sending it anything", { timeout: TEST_TIMEOUT_MS }, async () => {
  const { server, delivered, served, errors } = await recordingServer({});
  const client = await start({ clusterSecret: SECRET });
  try {
    client.sendRaft(GROUP, heartbeat(`${client.localAddress}:0`, `${server.localAddress}:0`, 1));
    await assert.rejects(client.request(server.localAddress!, "echo", Buffer.from("for the cluster only")), raftCode("EAUTH", /cluster secret missing: .* runs without one \(it asked for no proof\), so it cannot prove it belongs to the cluster/));
    await eventually("the server to hear why", () => errors.some((e) => e.code === "EAUTH" && /the peer closed the connection: cluster secret missing/.test(e.message)));
    assert.deepEqual(delivered, []);
    assert.deepEqual(served, []);
  } finally {
    await Promise.all([server.close(), client.close()]);
  }
});

/** One raw connection: frames in, frames out, until the server closes it. */
class RawConnection {
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder();
  private readonly frames: Frame[] = [];
  private waiting: (() => void) | null = null;
  closed = false;

  constructor(address: string) {
    const [host, port] = address.split(":");
    this.socket = net.connect({ host: host!, port: Number(port) });
    this.socket.on("data", (chunk) => {
      this.frames.push(...this.decoder.push(chunk));
      this.waiting?.();
    });
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  /** The next frame, or null once the server closed the connection. */
  async next(): Promise<Frame | null> {
    const deadline = Date.now() + 2000;
    while (this.frames.length === 0 && !this.closed) {
      if (Date.now() > deadline) throw new Error("no frame and no close within 2000 ms");
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.frames.shift() ?? null;
  }

  /** The Error frame the server closes with. */
  async refusal(): Promise<RaftError> {
    for (let frame = await this.next(); frame !== null; frame = await this.next()) {
      if (frame.kind === FrameKind.Error) return decodeError(frame.body);
    }
    throw new Error("closed without an Error frame");
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const hello = (senderAddress = ""): Buffer => encodeHello({ magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, clusterName: CLUSTER, senderAddress });

/** Says Hello and returns the server's challenge nonce. */
async function challenged(connection: RawConnection, senderAddress = ""): Promise<Buffer> {
  connection.send(hello(senderAddress));
  const frame = await connection.next();
  assert.equal(frame?.kind, FrameKind.AuthChallenge, "a server with a secret challenges after Hello");
  assert.equal(frame.body.length, NONCE_BYTES);
  return Buffer.from(frame.body);
}

test("secret: frames before the proof, a replayed proof, a reflected proof and silence are refused; a fresh proof is accepted", { timeout: TEST_TIMEOUT_MS }, async () => {
  const { server, delivered, served, errors } = await recordingServer({ clusterSecret: SECRET, connectTimeoutMs: 300 });
  const address = server.localAddress!;
  const secret = Buffer.from(SECRET);
  const connections: RawConnection[] = [];
  const connect = (): RawConnection => {
    const connection = new RawConnection(address);
    connections.push(connection);
    return connection;
  };
  try {
    const early = connect();
    await challenged(early);
    early.send(encodeRaft(GROUP, voteRequest("127.0.0.1:9:0", `${address}:0`, 100)));
    const earlyRefusal = await early.refusal();
    assert.equal(earlyRefusal.code, "EAUTH");
    assert.match(earlyRefusal.message, /a client sent a Raft frame instead of answering the cluster-secret challenge/);

    // A proof computed with the secret on the server's nonce is accepted, and the server proves itself in HelloOk.
    const honest = connect();
    const acceptorNonce = await challenged(honest);
    const dialerNonce = newNonce();
    const transcript = { version: PROTOCOL_VERSION, clusterName: CLUSTER, senderAddress: "", acceptorNonce, dialerNonce };
    const proof = handshakeProof(secret, "dialer", transcript);
    honest.send(encodeAuthProof(dialerNonce, proof));
    const helloOk = await honest.next();
    assert.equal(helloOk?.kind, FrameKind.HelloOk);
    assert.deepEqual(Buffer.from(helloOk.body), handshakeProof(secret, "acceptor", transcript), "the server's proof is bound to both nonces");

    // The same proof on another connection: the server's nonce is new there.
    const replay = connect();
    await challenged(replay);
    replay.send(encodeAuthProof(dialerNonce, proof));
    assert.match((await replay.refusal()).message, /cluster secret mismatch/);

    // The server's own proof (role "acceptor") handed back as a client's.
    const reflect = connect();
    const reflectNonce = await challenged(reflect);
    const ownDialerNonce = newNonce();
    reflect.send(encodeAuthProof(ownDialerNonce, handshakeProof(secret, "acceptor", { ...transcript, acceptorNonce: reflectNonce, dialerNonce: ownDialerNonce })));
    assert.match((await reflect.refusal()).message, /cluster secret mismatch/);

    // A proof for another sender address than the Hello named.
    const spoof = connect();
    const spoofNonce = await challenged(spoof, "127.0.0.1:1");
    spoof.send(encodeAuthProof(ownDialerNonce, handshakeProof(secret, "dialer", { ...transcript, senderAddress: "127.0.0.1:2", acceptorNonce: spoofNonce, dialerNonce: ownDialerNonce })));
    assert.match((await spoof.refusal()).message, /cluster secret mismatch: the proof of a peer that says it is 127\.0\.0\.1:1/);

    const silent = connect();
    await challenged(silent);
    const silentRefusal = await silent.refusal();
    assert.equal(silentRefusal.code, "EAUTH");
    assert.match(silentRefusal.message, /no answer to the cluster-secret challenge within 300 ms/);

    const garbled = connect();
    await challenged(garbled);
    garbled.send(encodeFrame(FrameKind.AuthProof, Buffer.alloc(3)));
    assert.match((await garbled.refusal()).message, /a cluster-secret proof has 3 bytes, expected 64/);

    assert.deepEqual(delivered, []);
    assert.deepEqual(served, []);
    assert.ok(errors.filter((e) => e.code === "EAUTH").length >= 5, errors.map((e) => e.message).join("\n"));
  } finally {
    for (const connection of connections) connection.destroy();
    await server.close();
  }
});

test("secret: a short or malformed secret is refused at start with the command that makes a good one", async () => {
  await assert.rejects(start({ clusterSecret: "short" }), raftCode("EINVAL", /clusterSecret must be 32 to 4096 bytes, got 5; make one with: openssl rand -hex 32 > cluster\.secret && chmod 600 cluster\.secret/));
  await assert.rejects(start({ clusterSecret: 42 as unknown as string }), raftCode("EINVAL", /clusterSecret must be a string or bytes, got number/));
  assert.throws(() => new KvClient({ endpoints: "127.0.0.1:1", clusterSecret: new Uint8Array(31) }), raftCode("EINVAL", /got 31/));
});

test("tls: a client certificate from another CA is refused by the server, on both sides with EAUTH", { timeout: TEST_TIMEOUT_MS }, async () => {
  const { server, delivered, served, errors } = await recordingServer({ tls: identities.trusted });
  // It trusts the cluster's CA (so it accepts the server), but its own certificate comes from another.
  const impostor = await start({ tls: { ...identities.rogue, ca: Buffer.concat([identities.rogue.ca as Buffer, identities.trusted.ca as Buffer]) } });
  try {
    impostor.sendRaft(GROUP, voteRequest(`${impostor.localAddress}:0`, `${server.localAddress}:0`, 100));
    await assert.rejects(impostor.request(server.localAddress!, "echo", Buffer.from("x")), raftCode("EAUTH", /refused our certificate; check that --tls-cert is signed by the CA the peer trusts/));
    await eventually("the server's report", () => errors.some((e) => e.code === "EAUTH" && /the peer's certificate is not trusted/.test(e.message)));
    assert.deepEqual(delivered, []);
    assert.deepEqual(served, []);
  } finally {
    await Promise.all([server.close(), impostor.close()]);
  }
});

test("a server logs refusals for authentication and cluster name, one line per interval at most, counting the rest", async () => {
  const lines: string[] = [];
  const log = refusalLogger((line) => lines.push(line), 100);
  log(new RaftError("EAUTH", "cluster secret mismatch"), "127.0.0.1:1");
  log(new RaftError("EPERM", `cluster name "staging" does not match`), "127.0.0.1:2");
  log(new RaftError("EAGAIN", "connection to 127.0.0.1:3 was closed by the peer"), "127.0.0.1:3");
  assert.deepEqual(lines, ["connection with 127.0.0.1:1 refused: EAUTH: cluster secret mismatch"]);
  await new Promise((resolve) => setTimeout(resolve, 120));
  log(new RaftError("EAUTH", "cluster secret missing"), "127.0.0.1:4");
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /^connection with 127\.0\.0\.1:4 refused: EAUTH: cluster secret missing \(and 1 more refusals since the last such line\)$/);
});

// ------------------------------------------------------------ secured KV clusters

interface Credentials {
  readonly clusterSecret?: string;
  readonly tls?: TlsOptions;
}

/** Three KV servers (startKvProcess, as `tsraft serve` runs them) that require `credentials`. */
class SecuredCluster {
  readonly processes = new Map<NodeId, KvProcess>();
  readonly warnings: string[] = [];

  private constructor(
    readonly root: string,
    readonly ids: readonly NodeId[],
  ) {}

  static async start(credentials: Credentials): Promise<SecuredCluster> {
    const ids = (await freePorts(3)).map((port) => `127.0.0.1:${port}`);
    const cluster = new SecuredCluster(await mkdtemp(join(tmpdir(), "tsraft-auth-")), ids);
    try {
      await Promise.all(
        ids.map(async (id) => {
          const process = await startKvProcess({
            serverId: id,
            dataDir: join(cluster.root, id.replace(":", "_")),
            groupId: GROUP,
            clusterName: CLUSTER,
            initialServerList: ids,
            electionTimeoutMs: 300,
            sync: false,
            ...credentials,
            info: () => {},
            warn: (line) => void cluster.warnings.push(line),
          });
          cluster.processes.set(id, process);
        }),
      );
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  get endpoints(): string {
    return this.ids.join(",");
  }

  node(id: NodeId): RaftNode {
    return this.processes.get(id)!.node;
  }

  async waitLeader(): Promise<RaftNode> {
    let leader: RaftNode | null = null;
    await waitFor(
      () => {
        const nodes = [...this.processes.values()].map((p) => p.node);
        leader = nodes.find((node) => node.isLeader()) ?? null;
        return leader !== null && leader.appliedIndex > 0 && nodes.every((node) => node.leaderId === leader!.serverId);
      },
      5000,
      "a leader every server follows",
    );
    return leader!;
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.processes.values()].map((process) => process.stop()));
    await rm(this.root, { recursive: true, force: true });
  }
}

interface Intruder {
  readonly what: string;
  readonly credentials: Credentials;
  /** The codes a refused call may end with, and what its message must say. */
  readonly codes: readonly string[];
  readonly pattern: RegExp;
}

function refusedWith(intruder: Intruder, action: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RaftError, `${intruder.what}, ${action}: expected a RaftError, got ${String(error)}`);
    assert.ok(intruder.codes.includes(error.code), `${intruder.what}, ${action}: ${error.message}`);
    assert.match(error.message, intruder.pattern, `${intruder.what}, ${action}`);
    return true;
  };
}

/**
 * Each intruder tries everything against a running secured cluster; afterwards
 * the terms, the leader, the membership and the data are as they were. Then a
 * process with the right credentials sends one of the same messages, and it
 * does move the follower's term: refused traffic would have mattered.
 */
async function intrudersAreRefused(credentials: Credentials, intruders: readonly Intruder[]): Promise<void> {
  const cluster = await SecuredCluster.start(credentials);
  const friend = new KvClient({ endpoints: cluster.endpoints, clusterName: CLUSTER, ...credentials });
  try {
    const leader = await cluster.waitLeader();
    await friend.put("greeting", "hello");
    const snapshot = await leader.snapshot();
    assert.ok(snapshot !== null, "the leader has a snapshot an intruder could try to copy");
    const followerId = cluster.ids.find((id) => id !== leader.serverId)!;
    const follower = cluster.node(followerId);
    const termBefore = leader.term;

    for (const intruder of intruders) {
      const transportErrors: RaftError[] = [];
      const transport = await TcpTransport.start({ clusterName: CLUSTER, ...intruder.credentials, onError: (error) => transportErrors.push(error), reconnectMinDelayMs: 20 });
      const cli = new CliService(transport, { timeoutMs: 1500, probeTimeoutMs: 500 });
      const kv = new KvClient({ endpoints: cluster.endpoints, clusterName: CLUSTER, timeoutMs: 1500, ...intruder.credentials });
      try {
        const me = "127.0.0.1:1";
        const target = follower.serverId;
        // Vote (RequestVote, forced past the leader's lease), append (AppendEntries) and install a snapshot, each from a higher term.
        transport.sendRaft(GROUP, voteRequest(me, target, termBefore + 100));
        transport.sendRaft(GROUP, appendRequest(me, target, termBefore + 200));
        transport.sendRaft(GROUP, snapshotRequest(me, target, termBefore + 300));
        await eventually(`${intruder.what}: the refusal of its Raft messages`, () => transportErrors.some((e) => intruder.codes.includes(e.code) && intruder.pattern.test(e.message)));
        // Copy the leader's snapshot.
        await assert.rejects(transport.request(leader.serverId, MANIFEST_SERVICE, encodeManifestRequest({ groupId: GROUP, index: snapshot.index })), refusedWith(intruder, "snapshot copy"));
        // The CLI service: read, then change the membership.
        await assert.rejects(cli.getLeader(GROUP, cluster.endpoints), refusedWith(intruder, "getLeader"));
        await assert.rejects(cli.removePeer(GROUP, cluster.endpoints, followerId), refusedWith(intruder, "removePeer"));
        // KV data: write, then read.
        await assert.rejects(kv.put("greeting", "forged"), refusedWith(intruder, "put"));
        await assert.rejects(kv.get("greeting"), refusedWith(intruder, "get"));
      } finally {
        await Promise.all([kv.close(), transport.close()]);
      }
    }

    for (const node of [...cluster.processes.values()].map((p) => p.node)) {
      assert.equal(node.term, termBefore, `${node.serverId}: no refused message moved its term`);
      assert.equal(node.leaderId, leader.serverId, `${node.serverId}: it follows the same leader`);
      assert.deepEqual(node.listPeers().sort(), [...cluster.ids].sort(), `${node.serverId}: the membership is unchanged`);
    }
    assert.equal(Buffer.from((await friend.get("greeting"))!).toString(), "hello", "the data is unchanged");
    assert.ok(cluster.warnings.some((line) => /connection with .* refused: EAUTH: /.test(line)), `the servers log the refusals:\n${cluster.warnings.join("\n")}`);

    const insider = await TcpTransport.start({ clusterName: CLUSTER, ...credentials });
    try {
      insider.sendRaft(GROUP, voteRequest("127.0.0.1:1", follower.serverId, termBefore + 100));
      await waitFor(() => follower.term >= termBefore + 100, 3000, "the delivered vote request to move the follower's term");
    } finally {
      await insider.close();
    }
  } finally {
    await friend.close();
    await cluster.destroy();
  }
}

test("a cluster with a secret: a process with another secret or none cannot vote, append, install a snapshot, use the CLI service or the KV data", { timeout: 30_000 }, () =>
  intrudersAreRefused({ clusterSecret: SECRET }, [
    { what: "another secret", credentials: { clusterSecret: OTHER_SECRET }, codes: ["EAUTH"], pattern: /cluster secret mismatch/ },
    { what: "no secret", credentials: {}, codes: ["EAUTH"], pattern: /cluster secret missing: .* requires one and the process dialing it has none/ },
  ]));

test("a cluster with mutual TLS: a process with a certificate from another CA, or without TLS, cannot vote, append, install a snapshot, use the CLI service or the KV data", { timeout: 30_000 }, () =>
  intrudersAreRefused({ tls: identities.trusted }, [
    { what: "a certificate from another CA", credentials: { tls: { ...identities.rogue, ca: Buffer.concat([identities.rogue.ca as Buffer, identities.trusted.ca as Buffer]) } }, codes: ["EAUTH"], pattern: /refused our certificate/ },
    { what: "a certificate it does not trust", credentials: { tls: identities.rogue }, codes: ["EAUTH"], pattern: /certificate is not trusted/ },
    // A TLS listener cannot answer a plain client in plain text; it closes, and the client is told what that may mean.
    { what: "no TLS", credentials: {}, codes: ["EAGAIN", "ETIMEDOUT"], pattern: /closed by the peer before the handshake completed \(a peer that requires TLS closes a connection without it\)/ },
  ]));

test("data folders are the owner's only: folders 0700, files 0600", { timeout: 30_000 }, async () => {
  const cluster = await SecuredCluster.start({ clusterSecret: SECRET });
  try {
    const leader = await cluster.waitLeader();
    const friend = new KvClient({ endpoints: cluster.endpoints, clusterName: CLUSTER, clusterSecret: SECRET });
    await friend.put("k", "v");
    await friend.close();
    await leader.snapshot();
    const loose: string[] = [];
    let checked = 0;
    const walk = async (path: string): Promise<void> => {
      const mode = (await stat(path)).mode;
      const isFolder = (mode & 0o170000) === 0o040000;
      checked++;
      if ((mode & 0o777) !== (isFolder ? 0o700 : 0o600)) loose.push(`${path} ${(mode & 0o777).toString(8)}`);
      if (isFolder) for (const entry of await readdir(path)) await walk(join(path, entry));
    };
    for (const id of cluster.ids) await walk(join(cluster.root, id.replace(":", "_")));
    assert.deepEqual(loose, []);
    assert.ok(checked > 3 * 5, `${checked} paths checked`);
  } finally {
    await cluster.destroy();
  }
});
