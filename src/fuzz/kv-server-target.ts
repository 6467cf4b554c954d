/**
 * A KV server end to end: one in-process server, as `tsraft serve` runs it
 * (startKvProcess: real TCP on loopback, a durable log in a temp folder),
 * takes damaged and random payloads on each of its request services, and
 * damaged byte streams on raw sockets. Every input must get a value or a
 * clear error, and the server must keep serving: after each one the node is
 * not in its error state and a known request still gets its answer.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { RaftErrorCode } from "../errors.js";
import { decodeKvResponse, decodeKvRequest, encodeKvRequest } from "../kv/kv-codec.js";
import { startKvProcess, type KvProcess } from "../kv/kv-process.js";
import { KV_SERVICE, KV_STATUS_SERVICE } from "../kv/kv-service.js";
import { CLI_SERVICE, decodeCliAnswer, decodeCliRequest, encodeCliRequest } from "../node/cli-protocol.js";
import { CHUNK_SERVICE, decodeChunkRequest, decodeManifestRequest, encodeChunkRequest, encodeManifestRequest, MANIFEST_SERVICE } from "../node/snapshot-copy-codec.js";
import { decodeManifest } from "../storage/snapshot-manifest.js";
import { FrameDecoder, FrameKind } from "../transport/frame.js";
import { decodeError, decodeResponse, encodeHello, PROTOCOL_MAGIC, PROTOCOL_VERSION } from "../transport/protocol.js";
import { TcpTransport } from "../transport/tcp-transport.js";
import { assertClearRefusal, asBuffer, decodeSoundlyAsync, named, newCounts, type FuzzTarget } from "./fuzz-target.js";
import { kvRequest, MAX_FUZZ_WATCH_WAIT_MS } from "./kv-arbitraries.js";
import { byteMutator, jsonMutator, randomBytes, type Mutator } from "./mutations.js";
import { encodeProtocolFrame } from "./transport-targets.js";
import { label, peerId, protocolFrame, u53 } from "./wire-arbitraries.js";

const GROUP = "fuzz";
const CLUSTER_NAME = "tsraft-fuzz";
const REQUEST_TIMEOUT_MS = 5000;
/** How long a raw connection waits for the server to answer and close. */
const RAW_CONNECTION_WAIT_MS = 1000;
/** Server log lines kept for a failure report. */
const LOG_LINES_KEPT = 40;

/** A request service: its well-formed payloads, the codes its refusals may carry, and a check of its answers. */
interface Service {
  readonly name: string;
  readonly valid: fc.Arbitrary<Buffer>;
  readonly mutator: Mutator<Buffer>;
  readonly codes: readonly RaftErrorCode[];
  /** False for inputs the fuzz must not send (they would hold the server or change its membership). */
  harmless(payload: Buffer): boolean;
  checkAnswer(payload: Buffer, answer: Buffer): void;
}

/** The server takes a snapshot when it starts (and on the cli service's "snapshot"): indexes near it find one. */
const snapshotIndex = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));

const decodesTo = <T>(decode: () => T): T | null => {
  try {
    return decode();
  } catch {
    return null;
  }
};

const SERVICES: readonly Service[] = [
  {
    name: KV_SERVICE,
    valid: kvRequest(fc.constant(GROUP)).map((request) => asBuffer(encodeKvRequest(request))),
    mutator: byteMutator,
    codes: ["EINVAL"],
    // A watch long-polls for its waitMs: damage may ask for minutes.
    harmless: (payload) => decodesTo(() => decodeKvRequest(payload))?.calls.every((call) => call.kind !== "watch" || call.watch.waitMs <= MAX_FUZZ_WATCH_WAIT_MS) ?? true,
    checkAnswer(payload, answer) {
      assert.equal(decodeKvResponse(answer).results.length, decodeKvRequest(payload).calls.length, "one result per call");
    },
  },
  {
    name: KV_STATUS_SERVICE,
    valid: fc.oneof(fc.constant(GROUP), label).map((groupId) => Buffer.from(JSON.stringify({ groupId }))),
    mutator: jsonMutator,
    codes: ["EINVAL"],
    harmless: () => true,
    checkAnswer(_payload, answer) {
      assert.equal(typeof JSON.parse(answer.toString("utf8")).serverId, "string");
    },
  },
  {
    name: MANIFEST_SERVICE,
    valid: fc.record({ groupId: fc.oneof(fc.constant(GROUP), label), index: snapshotIndex }).map((request) => asBuffer(encodeManifestRequest(request))),
    mutator: byteMutator,
    // EPERM: a snapshot replaced by a newer one (the cli service's "snapshot" takes them).
    codes: ["EINVAL", "ECORRUPT", "EPERM"],
    harmless: () => true,
    checkAnswer(payload, answer) {
      decodeManifest(answer, `the manifest for ${JSON.stringify(decodeManifestRequest(payload))}`);
    },
  },
  {
    name: CHUNK_SERVICE,
    valid: fc
      .record({ groupId: fc.oneof(fc.constant(GROUP), label), index: snapshotIndex, fileName: fc.constantFrom("kv-state", "_manifest", "x"), offset: fc.oneof(fc.nat({ max: 64 }), u53), lengthBytes: fc.nat({ max: 4096 }) })
      .map((request) => asBuffer(encodeChunkRequest(request))),
    mutator: byteMutator,
    // EPERM: a snapshot replaced by a newer one (the cli service's "snapshot" takes them).
    codes: ["EINVAL", "ECORRUPT", "EPERM"],
    harmless: () => true,
    checkAnswer(payload, answer) {
      assert.ok(answer.length <= decodeChunkRequest(payload).lengthBytes, "no more bytes than asked for");
    },
  },
  {
    name: CLI_SERVICE,
    valid: fc
      .tuple(fc.oneof(fc.constant(GROUP), label), fc.option(peerId, { nil: undefined }), fc.constantFrom("getLeader" as const, "snapshot" as const), fc.boolean())
      .map(([groupId, named, op, onlyAlive]) => asBuffer(encodeCliRequest(onlyAlive ? { op: "getConfiguration", groupId, onlyAlive } : { op, groupId, ...(named === undefined ? {} : { peerId: named }) }))),
    mutator: jsonMutator,
    codes: ["EINVAL", "ENOTLEADER"],
    // Membership changes and resets are well-formed requests a fuzz must not make of its only server.
    harmless: (payload) => {
      const request = decodesTo(() => decodeCliRequest(payload));
      return request === null || request.op === "getLeader" || request.op === "getConfiguration" || request.op === "snapshot";
    },
    checkAnswer(payload, answer) {
      decodeCliAnswer(decodeCliRequest(payload).op, answer, "the fuzzed server");
    },
  },
];

export function kvServerTarget(): FuzzTarget {
  const counts = newCounts();
  let root = "";
  let server: KvProcess | null = null;
  let client: TcpTransport | null = null;
  const log: string[] = [];
  const keep = (line: string): void => {
    log.push(line);
    if (log.length > LOG_LINES_KEPT) log.shift();
  };
  const address = (): string => server!.node.serverId;

  /** The server still serves: not in its error state, and a known request is answered. */
  const assertServing = async (after: string): Promise<void> => {
    const recent = (): string => `after ${after}; the server's last lines:\n${log.join("\n")}`;
    assert.notEqual(server!.node.state, "error", `the node is in its error state ${recent()}`);
    const probe = encodeKvRequest({ groupId: GROUP, calls: [{ kind: "read", consistency: "stale", op: { type: "get", key: Buffer.from("probe") } }] });
    const answer = await client!.request(address(), KV_SERVICE, probe, { timeoutMs: REQUEST_TIMEOUT_MS }).catch((error: unknown) => assert.fail(`a known request failed (${String(error)}) ${recent()}`));
    assert.equal(decodeKvResponse(answer).results[0]?.type, "value", recent());
  };

  const serve = async (service: Service, payload: Buffer): Promise<void> => {
    fc.pre(service.harmless(payload));
    const answer = await decodeSoundlyAsync(counts, service.codes, () => client!.request(address(), service.name, payload, { timeoutMs: REQUEST_TIMEOUT_MS }));
    if (answer !== undefined) service.checkAnswer(payload, answer);
    await assertServing(`a ${payload.length}-byte payload to service "${service.name}"`);
  };

  const servicesProperties = SERVICES.flatMap((service) => [
    named(`${service.name}: well-formed`, fc.asyncProperty(service.valid, (payload) => serve(service, payload))),
    named(`${service.name}: damaged`, fc.asyncProperty(service.valid, service.valid, service.mutator.mutations, (payload, donor, mutations) => serve(service, service.mutator.apply(payload, mutations, donor)))),
    named(`${service.name}: random`, fc.asyncProperty(randomBytes(), (payload) => serve(service, payload))),
  ]);

  /** A handshake and frames, then damage: whatever the server sends back must be well-formed, and an error frame clear. */
  const rawStream = fc
    .tuple(fc.boolean(), fc.array(protocolFrame, { maxLength: 3 }))
    .map(([rightCluster, frames]) => Buffer.concat([encodeHello({ magic: PROTOCOL_MAGIC, version: PROTOCOL_VERSION, clusterName: rightCluster ? CLUSTER_NAME : "other", senderAddress: "" }), ...frames.map(encodeProtocolFrame)]));
  const rawConnection = async (stream: Buffer): Promise<void> => {
    counts.runs++;
    const received = await exchange(address(), stream);
    const decoder = new FrameDecoder();
    let refused = false;
    for (const frame of decoder.push(received)) {
      if (frame.kind === FrameKind.Error) {
        // EAUTH: bytes that start like a TLS ClientHello are told this server runs without TLS.
        assertClearRefusal(decodeError(frame.body), ["ECORRUPT", "EINVAL", "EPERM", "ETIMEDOUT", "EAUTH"]);
        refused = true;
      } else if (frame.kind === FrameKind.Response) {
        decodeResponse(frame.body);
      }
    }
    if (refused) counts.refused++;
    else counts.accepted++;
    await assertServing(`a raw connection sending ${stream.length} bytes`);
  };

  return {
    name: "kv server",
    counts,
    properties: [
      ...servicesProperties,
      named("raw connection: damaged", fc.asyncProperty(rawStream, rawStream, byteMutator.mutations, (stream, donor, mutations) => rawConnection(byteMutator.apply(stream, mutations, donor)))),
      named("raw connection: random", fc.asyncProperty(randomBytes(), rawConnection)),
    ],
    async open() {
      root = await mkdtemp(join(tmpdir(), "tsraft-fuzz-kv-server-"));
      const id = `127.0.0.1:${await freePort()}`;
      server = await startKvProcess({ serverId: id, dataDir: join(root, "data"), groupId: GROUP, clusterName: CLUSTER_NAME, initialServerList: [id], electionTimeoutMs: 300, sync: false, info: keep, warn: keep });
      client = await TcpTransport.start({ clusterName: CLUSTER_NAME });
      const deadline = Date.now() + 10_000;
      while (!(server.node.isLeader() && server.node.appliedIndex >= server.node.committedIndex && server.node.committedIndex > 0)) {
        assert.ok(Date.now() < deadline, `the fuzzed server elected no leader:\n${log.join("\n")}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await server.node.snapshot();
    },
    async close() {
      await client?.close();
      await server?.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Sends `stream` on a new socket and half-closes it; what the server sent until it closed (or the wait ran out). */
async function exchange(address: string, stream: Buffer): Promise<Buffer> {
  const [host, port] = address.split(":");
  const socket = net.connect(Number(port), host);
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  await once(socket, "connect");
  socket.on("error", () => {}); // the server may reset a connection it refused
  const closed = once(socket, "close");
  const timer = setTimeout(() => socket.destroy(), RAW_CONNECTION_WAIT_MS);
  socket.end(stream);
  await closed;
  clearTimeout(timer);
  return Buffer.concat(received);
}

async function freePort(): Promise<number> {
  const listener = net.createServer().listen(0, "127.0.0.1");
  await once(listener, "listening");
  const { port } = listener.address() as net.AddressInfo;
  await new Promise((resolve) => listener.close(resolve));
  return port;
}
