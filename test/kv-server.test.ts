/**
 * The KV store end to end: three in-process servers over real TCP (each as
 * `tsraft serve` runs it) and KvClient. Every operation, concurrency
 * (compareAndPut races, group commit), exactly-once retries across a leader
 * change, redirects, stale reads without a quorum, watches across a leader
 * change, and bad input answered with a clear EINVAL.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftError } from "../src/errors.js";
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, type KvCall, type KvCallResult, type WatchEvent } from "../src/kv/commands.js";
import { decodeKvResponse, encodeKvRequest } from "../src/kv/kv-codec.js";
import { KvClient, toText } from "../src/kv/index.js";
import { KV_SERVICE } from "../src/kv/kv-service.js";
import { TcpTransport } from "../src/transport/tcp-transport.js";
import { KV_TEST_CLUSTER_NAME, KV_TEST_GROUP, KvCluster } from "./support/kv-cluster.js";
import { runEveryOperation, text } from "./support/kv-every-operation.js";
import { bytes, codeOf, waitFor } from "./support/node-cluster.js";

function client(cluster: KvCluster, endpoints = cluster.endpoints, timeoutMs = 5000): KvClient {
  return new KvClient({ endpoints, clusterName: KV_TEST_CLUSTER_NAME, timeoutMs });
}

/** One raw request frame, as a client of another language would send it. */
async function rawRequest(transport: TcpTransport, address: string, calls: KvCall[]): Promise<KvCallResult[]> {
  const answer = await transport.request(address, KV_SERVICE, encodeKvRequest({ groupId: KV_TEST_GROUP, calls }), { timeoutMs: 5000 });
  return [...decodeKvResponse(answer).results];
}

async function withCluster(run: (cluster: KvCluster) => Promise<void>): Promise<void> {
  const cluster = await KvCluster.create(3);
  try {
    await run(cluster);
  } catch (error) {
    console.error(cluster.lines.slice(-60).join("\n"));
    throw error;
  } finally {
    await cluster.destroy();
  }
}

test("every KV operation end to end through KvClient", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    await cluster.waitLeader();
    const kv = client(cluster);
    const rival = client(cluster);
    try {
      await runEveryOperation(kv, rival);
    } finally {
      await Promise.all([kv.close(), rival.close()]);
    }
  }),
);

test("compareAndPut under concurrency: many clients race, exactly one wins each round", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    await cluster.waitLeader();
    const clients = Array.from({ length: 8 }, () => client(cluster));
    try {
      await clients[0]!.put("register", "0");
      for (let round = 0; round < 20; round++) {
        const outcomes = await Promise.all(clients.map((kv) => kv.compareAndPut("register", String(round), String(round + 1))));
        assert.equal(outcomes.filter(Boolean).length, 1, `round ${round}: ${outcomes.join(",")}`);
      }
      assert.equal(text(await clients[3]!.get("register")), "20");
    } finally {
      await Promise.all(clients.map((kv) => kv.close()));
    }
  }),
);

test("group commit: 200 concurrent writes of one client take a few log entries", { timeout: 30_000 }, async (t) =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const kv = client(cluster);
    try {
      await kv.put("warm-up", "x"); // finds the leader
      const before = leader.lastLogIndex;
      await Promise.all(Array.from({ length: 200 }, (_, i) => kv.put(`key-${i}`, `value-${i}`)));
      const entries = leader.lastLogIndex - before;
      t.diagnostic(`200 concurrent puts took ${entries} log entries`);
      assert.ok(entries <= 4, `expected a few entries, got ${entries}`);
      assert.equal((await kv.scan("key-", "key-~", { limit: 1000 })).length, 200);
    } finally {
      await kv.close();
    }
  }),
);

test("exactly once: a write retried with the same session seq after a leader change is applied once", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const transport = await TcpTransport.start({ clusterName: KV_TEST_CLUSTER_NAME });
    const kv = client(cluster);
    try {
      const append: KvCall = { kind: "write", clientId: "retrying-client", seq: 1, firstUnackedSeq: 1, op: { type: "merge", key: bytes("log"), value: bytes("a") } };
      assert.deepEqual(await rawRequest(transport, leader.serverId, [append]), [{ type: "ok" }]);
      const target = cluster.followers(leader)[0]!;
      leader.transferLeadershipTo(target);
      await waitFor(() => cluster.node(target).isLeader() && cluster.node(target).appliedIndex >= cluster.node(target).committedIndex, 5000, "the new leader");
      // The answer was "lost": the client sends the same call to the new leader.
      const retried = await rawRequest(transport, target, [append]);
      assert.deepEqual(retried, [{ type: "ok" }]);
      assert.equal(text(await kv.get("log")), "a", "the retry did not append twice");
      // The next write acknowledges seq 1; retrying seq 1 after that is refused, not applied.
      const next: KvCall = { kind: "write", clientId: "retrying-client", seq: 2, firstUnackedSeq: 2, op: { type: "merge", key: bytes("log"), value: bytes("b") } };
      assert.deepEqual(await rawRequest(transport, target, [next]), [{ type: "ok" }]);
      const late = await rawRequest(transport, target, [append]);
      assert.equal(late[0]!.type === "error" && late[0]!.code, "ECOMPACTED");
      assert.equal(text(await kv.get("log")), "ab");
    } finally {
      await kv.close();
      await transport.close();
    }
  }),
);

test("writes in flight through a leader change are each applied exactly once", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const kv = client(cluster, cluster.endpoints, 10_000);
    try {
      await kv.put("warm-up", "x");
      const writes = Array.from({ length: 300 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i)); // spread over 300 ms, across the transfer
        await kv.merge("tally", "x");
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      leader.transferLeadershipTo(cluster.followers(leader)[0]!);
      await Promise.all(writes);
      assert.equal((await kv.get("tally"))!.byteLength, 300);
    } finally {
      await kv.close();
    }
  }),
);

test("ENOTLEADER: a follower names the leader, and the client follows the redirect", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const follower = cluster.followers(leader)[0]!;
    const transport = await TcpTransport.start({ clusterName: KV_TEST_CLUSTER_NAME });
    const kv = client(cluster, follower); // knows only the follower
    try {
      const put: KvCall = { kind: "write", clientId: "c", seq: 1, firstUnackedSeq: 1, op: { type: "put", key: bytes("k"), value: bytes("v") } };
      const read: KvCall = { kind: "read", consistency: "linearizable", op: { type: "get", key: bytes("k") } };
      const results = await rawRequest(transport, follower, [put, read]);
      for (const result of results) {
        assert.equal(result.type, "error");
        assert.equal(result.type === "error" && result.code, "ENOTLEADER");
        assert.equal(result.type === "error" && result.leaderHint, leader.serverId);
        assert.match(result.type === "error" ? result.message : "", new RegExp(`the leader is ${leader.serverId}`));
      }
      await kv.put("k", "v");
      assert.equal(text(await kv.get("k")), "v");
      assert.equal(kv.routes.selectLeader(KV_TEST_GROUP), leader.serverId);
      assert.deepEqual([...kv.routes.getConfiguration(KV_TEST_GROUP)!.peers].sort(), [...cluster.ids].sort(), "the refresh brought the whole membership in");
    } finally {
      await kv.close();
      await transport.close();
    }
  }),
);

test("stale reads are served by a follower without a quorum; linearizable ones are not", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const kv = client(cluster);
    const [survivor, other] = cluster.followers(leader);
    try {
      await kv.put("k", "before");
      await waitFor(() => cluster.node(survivor!).appliedIndex >= leader.committedIndex, 5000, "the follower applies the write");
      await cluster.stop(leader.serverId);
      await cluster.stop(other!);
      const alone = client(cluster, survivor!, 1000);
      try {
        assert.equal(text(await alone.get("k", { consistency: "stale" })), "before");
        assert.equal(await alone.containsKey("k", { consistency: "stale" }), true);
        assert.equal(await codeOf(alone.get("k")), "ETIMEDOUT");
        await assert.rejects(alone.put("k", "after"), (error: RaftError) => error.code === "ETIMEDOUT" && /may or may not have been applied/.test(error.message));
      } finally {
        await alone.close();
      }
    } finally {
      await kv.close();
    }
  }),
);

test("watch: events of a key prefix, resumable from an index, across a leader change", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const kv = client(cluster);
    const abort = new AbortController();
    try {
      const seen: WatchEvent[] = [];
      const watching = (async () => {
        for await (const event of kv.watch("user/", { prefix: true, waitMs: 500, signal: abort.signal })) seen.push(event);
      })();
      // Watching "from now": the first poll must be waiting on a member before the writes.
      await waitFor(() => [...cluster.processes.values()].some((p) => p.stateMachine.stats().watchWaiters > 0), 5000, "the first poll to wait");
      await kv.put("user/1", "ann");
      await kv.put("other", "ignored");
      await kv.delete("user/1");
      leader.transferLeadershipTo(cluster.followers(leader)[0]!);
      await kv.put("user/2", "bob");
      await waitFor(() => seen.length >= 3, 10_000, "three watch events");
      abort.abort();
      await watching;
      assert.deepEqual(
        seen.map((e) => `${e.type} ${toText(e.key)} ${e.value === null ? "null" : toText(e.value)}`),
        ["put user/1 ann", "delete user/1 null", "put user/2 bob"],
      );
      assert.ok(seen[0]!.index < seen[1]!.index && seen[1]!.index < seen[2]!.index);

      // Resumed from the index of the second event: the same events again, from there.
      const resumed: string[] = [];
      for await (const event of kv.watch("user/", { prefix: true, fromIndex: seen[1]!.index, waitMs: 200 })) {
        resumed.push(`${event.type} ${toText(event.key)}`);
        if (resumed.length === 2) break;
      }
      assert.deepEqual(resumed, ["delete user/1", "put user/2"]);
    } finally {
      abort.abort();
      await kv.close();
    }
  }),
);

test("bad input: oversized keys and values, malformed frames, unknown operations get a clear EINVAL", { timeout: 30_000 }, () =>
  withCluster(async (cluster) => {
    const leader = await cluster.waitLeader();
    const kv = client(cluster);
    const transport = await TcpTransport.start({ clusterName: KV_TEST_CLUSTER_NAME });
    try {
      // The client refuses before sending.
      await assert.rejects(kv.put("k".repeat(MAX_KEY_BYTES + 1), "v"), /EINVAL: put: key of 16385 bytes is above MAX_KEY_BYTES 16384/);
      await assert.rejects(kv.put("k", new Uint8Array(MAX_VALUE_BYTES + 1)), /EINVAL: put: value of 1048577 bytes is above MAX_VALUE_BYTES 1048576/);
      await assert.rejects(kv.scan("b", "a"), /EINVAL: scan: start is after end/);
      await assert.rejects(kv.get(42 as unknown as string), /EINVAL: key must be a string or a Uint8Array, got number/);
      await assert.rejects(kv.get("k", { consistency: "eventual" as "stale" }), /EINVAL: consistency must be "linearizable", "lease" or "stale"/);

      // The server refuses what a client of its own making sends.
      const address = leader.serverId;
      const oversized: KvCall = { kind: "write", clientId: "c", seq: 1, firstUnackedSeq: 1, op: { type: "put", key: new Uint8Array(MAX_KEY_BYTES + 1), value: bytes("v") } };
      await assert.rejects(rawRequest(transport, address, [oversized]), (error: RaftError) => error.code === "EINVAL" && /malformed KV request: .*key of 16385 bytes is above MAX_KEY_BYTES/.test(error.message));
      await assert.rejects(transport.request(address, KV_SERVICE, Buffer.from("not a KV request"), { timeoutMs: 5000 }), (error: RaftError) => error.code === "EINVAL" && /malformed KV request/.test(error.message));
      const get = Buffer.from(encodeKvRequest({ groupId: KV_TEST_GROUP, calls: [{ kind: "read", consistency: "linearizable", op: { type: "get", key: bytes("k") } }] }));
      get[13] = 99; // version, group id (4 + 2 bytes), call count (4), call kind, consistency, then the operation type
      await assert.rejects(transport.request(address, KV_SERVICE, get, { timeoutMs: 5000 }), (error: RaftError) => error.code === "EINVAL" && /malformed KV request: .*read operation type/.test(error.message));
      const otherGroup = encodeKvRequest({ groupId: "nope", calls: [{ kind: "read", consistency: "stale", op: { type: "get", key: bytes("k") } }] });
      await assert.rejects(transport.request(address, KV_SERVICE, otherGroup, { timeoutMs: 5000 }), /EINVAL: KV group "nope" is not served by this process \(it serves "kv"\)/);
      // After all that the servers still work.
      await kv.put("k", "fine");
      assert.equal(text(await kv.get("k")), "fine");
    } finally {
      await kv.close();
      await transport.close();
    }
  }),
);

test("the client bounds its calls in flight (EBUSY) and fails them with ESHUTDOWN on close", { timeout: 10_000 }, async () => {
  const kv = new KvClient({ endpoints: "127.0.0.1:1", clusterName: KV_TEST_CLUSTER_NAME, maxInFlight: 2, timeoutMs: 5000 });
  const first = codeOf(kv.put("a", "1"));
  const second = codeOf(kv.get("a"));
  await assert.rejects(kv.put("b", "2"), /EBUSY: 2 calls of this client are in flight \(maxInFlight 2\)/);
  await kv.close();
  assert.deepEqual(await Promise.all([first, second]), ["ESHUTDOWN", "ESHUTDOWN"]);
  await assert.rejects(kv.get("a"), /ESHUTDOWN: the KV client is closed/);
  assert.throws(() => new KvClient({ endpoints: "nonsense" }), /EINVAL: endpoints "nonsense" is not a server list/);
});
