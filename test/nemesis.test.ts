/**
 * The nemesis tools: the fault proxy cuts servers apart but lets clients
 * through, the lock-token check catches what it must, and a short mixed run
 * against real processes ends with a checked, linearizable history. The long
 * runs are `npm run nemesis` (README, "Breaking it on purpose").
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RaftError } from "../src/errors.js";
import { FaultProxy } from "../src/nemesis/fault-proxy.js";
import { freePorts } from "../src/nemesis/free-ports.js";
import { checkLockTokens, type LockAcquisition } from "../src/nemesis/lock-check.js";
import { runNemesis } from "../src/nemesis/run-nemesis.js";
import { TcpTransport } from "../src/transport/tcp-transport.js";

const acquisition = (owner: string, token: number, invokeMs: number, completeMs: number): LockAcquisition => ({ key: "lock", owner, token, invokeMs, completeMs });

test("lock tokens: unique, and larger for an acquisition that began after another completed", () => {
  assert.deepEqual(checkLockTokens([acquisition("a", 1, 0, 5), acquisition("b", 2, 6, 9), acquisition("c", 3, 7, 8)]), []);
  // Concurrent acquisitions may take their tokens in either order.
  assert.deepEqual(checkLockTokens([acquisition("a", 2, 0, 5), acquisition("b", 1, 1, 6)]), []);
  const twice = checkLockTokens([acquisition("a", 4, 0, 5), acquisition("b", 4, 10, 12)]);
  assert.ok(twice.some((line) => /token 4 was granted twice/.test(line)), twice.join("\n"));
  const backwards = checkLockTokens([acquisition("a", 7, 0, 5), acquisition("b", 6, 10, 12)]);
  assert.equal(backwards.length, 1);
  assert.match(backwards[0]!, /token 6 .* is not above token 7/);
});

test("fault proxy: a blocked server's requests go nowhere while a client's pass; healing restores the link", { timeout: 30_000 }, async () => {
  const [proxyPort, serverPort] = await freePorts(2);
  const server = await TcpTransport.start({ clusterName: "proxy-test", listen: { host: "127.0.0.1", port: serverPort! }, advertisedPort: proxyPort });
  const peer = await TcpTransport.start({ clusterName: "proxy-test", listen: { host: "127.0.0.1", port: 0 }, reconnectMinDelayMs: 20, reconnectMaxDelayMs: 100 });
  const client = await TcpTransport.start({ clusterName: "proxy-test" });
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port: proxyPort! }, { host: "127.0.0.1", port: serverPort! });
  try {
    assert.equal(server.localAddress, `127.0.0.1:${proxyPort}`, "the server advertises the proxy's port");
    server.handle("echo", async (payload) => payload);
    const target = server.localAddress!;
    assert.equal((await peer.request(target, "echo", Buffer.from("before"))).toString(), "before");

    proxy.block([peer.localAddress!]);
    await assert.rejects(peer.request(target, "echo", Buffer.from("cut"), { timeoutMs: 500 }), (error: unknown) => error instanceof RaftError && ["ETIMEDOUT", "EAGAIN"].includes(error.code));
    assert.equal((await client.request(target, "echo", Buffer.from("client"))).toString(), "client", "clients are not partitioned");
    assert.ok(proxy.cutConnections >= 1, "the open connection was cut");

    proxy.block([]);
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        assert.equal((await peer.request(target, "echo", Buffer.from("after"), { timeoutMs: 300 })).toString(), "after");
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
  } finally {
    await Promise.all([proxy.close(), server.close(), peer.close(), client.close()]);
  }
});

test("nemesis: a short mixed run over real processes keeps the history linearizable and every acknowledged write", { timeout: 120_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), "tsraft-nemesis-test-"));
  const lines: string[] = [];
  let passed = false;
  try {
    const seed = Math.floor(Math.random() * 2 ** 32);
    const { summary, problems } = await runNemesis({
      nemesis: "mixed",
      nodes: 3,
      seconds: 24,
      seed,
      root,
      electionTimeoutMs: 500,
      calmSeconds: 2,
      faultSeconds: 3,
      log: (line) => lines.push(line),
    });
    console.log(JSON.stringify(summary));
    assert.deepEqual(problems, [], `seed ${seed}:\n${lines.join("\n")}`);
    assert.equal(summary.linearizable, true);
    assert.equal(summary.lostAcknowledgedWrites, 0);
    assert.ok(summary.faults >= 3, `${summary.faults} faults injected`);
    assert.ok(summary.ok >= 200, `only ${summary.ok} operations succeeded:\n${lines.join("\n")}`);
    passed = true;
  } finally {
    if (passed) await rm(root, { recursive: true, force: true });
    else console.log(`kept ${root} (servers.log, history.json)`);
  }
});
