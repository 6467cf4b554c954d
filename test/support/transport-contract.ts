/**
 * The behaviour every Transport must have, run against TCP and in memory.
 * A harness makes transports that can reach each other; each test closes
 * what it made.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftError } from "../../src/errors.js";
import type { HeartbeatRequest, Message } from "../../src/core/messages.js";
import { EntryType } from "../../src/core/types.js";
import type { Transport, TransportOptions } from "../../src/transport/transport.js";

export type TransportOverrides = Partial<TransportOptions>;

export interface TransportHarness {
  create(overrides?: TransportOverrides): Promise<Transport>;
}

/** Every transport test is bounded: a hang is a failure, not a stuck CI job. */
export const TEST_TIMEOUT_MS = 5000;

export async function eventually(what: string, check: () => boolean, retry?: () => void, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    retry?.();
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function heartbeat(from: string, to: string, commit: number): HeartbeatRequest {
  return { type: "heartbeat", from, to, term: 1, commit, readSeq: 0, sentTick: commit, quiesce: false };
}

export function raftCode(code: string, pattern?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RaftError, `expected a RaftError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  };
}

async function withTransports(harness: TransportHarness, count: number, body: (transports: Transport[]) => Promise<void>, overrides?: TransportOverrides): Promise<void> {
  const transports: Transport[] = [];
  try {
    for (let i = 0; i < count; i++) transports.push(await harness.create(overrides));
    await body(transports);
  } finally {
    await Promise.all(transports.map((t) => t.close()));
  }
}

export function transportContract(name: string, harness: TransportHarness): void {
  test(`${name}: Raft messages reach the right group and peer across three transports, in order`, { timeout: TEST_TIMEOUT_MS }, () =>
    withTransports(harness, 3, async (transports) => {
      const ids = transports.map((t) => `${t.localAddress}:0`);
      const received = new Map<string, Message[]>();
      const inbox = (key: string) => (message: Message) => {
        if (!received.has(key)) received.set(key, []);
        received.get(key)!.push(message);
      };
      // g1 on all three; g2 has two peers in the second process (idx 1 and 2) and one in the first.
      transports.forEach((t, i) => t.registerGroup("g1", ids[i]!, inbox(`g1/${ids[i]}`)));
      const g2 = [`${transports[0]!.localAddress}:1`, `${transports[1]!.localAddress}:1`, `${transports[1]!.localAddress}:2`];
      transports[0]!.registerGroup("g2", g2[0]!, inbox(`g2/${g2[0]}`));
      transports[1]!.registerGroup("g2", g2[1]!, inbox(`g2/${g2[1]}`));
      transports[1]!.registerGroup("g2", g2[2]!, inbox(`g2/${g2[2]}`));

      const heartbeats = 20;
      for (let commit = 1; commit <= heartbeats; commit++) {
        transports.forEach((t, i) => ids.forEach((to, j) => i !== j && t.sendRaft("g1", heartbeat(ids[i]!, to, commit))));
      }
      const append: Message = {
        type: "append",
        from: g2[0]!,
        to: g2[1]!,
        term: 2,
        prevIndex: 4,
        prevTerm: 1,
        commit: 4,
        entries: [
          { index: 5, term: 2, type: EntryType.Normal, data: Buffer.from("five") },
          { index: 6, term: 2, type: EntryType.Config, data: new Uint8Array([6, 6]) },
        ],
      };
      transports[0]!.sendRaft("g2", append);
      transports[0]!.sendRaft("g2", { type: "timeoutNow", from: g2[0]!, to: g2[2]!, term: 2 });
      transports[1]!.sendRaft("g2", { type: "appendResp", from: g2[1]!, to: g2[0]!, term: 2, reject: false, index: 6, hintIndex: 0, hintTerm: 0 });

      const count = (key: string) => received.get(key)?.length ?? 0;
      await eventually("every message", () => ids.every((id) => count(`g1/${id}`) === 2 * heartbeats) && g2.every((id) => count(`g2/${id}`) === 1));

      for (const [i, id] of ids.entries()) {
        for (const [j, from] of ids.entries()) {
          if (i === j) continue;
          const commits = received.get(`g1/${id}`)!.filter((m) => m.from === from).map((m) => (m as HeartbeatRequest).commit);
          assert.deepEqual(commits, Array.from({ length: heartbeats }, (_, k) => k + 1), `order from ${from} to ${id}`);
        }
      }
      const got = received.get(`g2/${g2[1]}`)![0]!;
      assert.equal(got.type, "append");
      if (got.type === "append") {
        assert.deepEqual(
          got.entries.map((e) => ({ ...e, data: [...e.data] })),
          append.entries.map((e) => ({ ...e, data: [...e.data] })),
        );
      }
      assert.equal(received.get(`g2/${g2[2]}`)![0]!.type, "timeoutNow");
      assert.equal(received.get(`g2/${g2[0]}`)![0]!.type, "appendResp");
      const stats = transports[0]!.stats();
      assert.ok(stats.framesSent > 0 && stats.bytesSent > 0 && stats.framesReceived > 0 && stats.bytesReceived > 0, JSON.stringify(stats));
      assert.equal(stats.raftMessagesDropped, 0);
    }),
  );

  test(`${name}: requests are answered, correlated out of order, and know their sender`, { timeout: TEST_TIMEOUT_MS }, () =>
    withTransports(harness, 2, async ([client, server]) => {
      server!.handle("echo", async (payload, from) => {
        // Later requests answer first, so answers come back out of order.
        await sleep(10 * (10 - Number(payload.toString())));
        return Buffer.from(`${from}|${payload.toString()}`);
      });
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => client!.request(server!.localAddress!, "echo", Buffer.from(String(i)))));
      assert.deepEqual(
        answers.map((a) => a.toString()),
        Array.from({ length: 10 }, (_, i) => `${client!.localAddress}|${i}`),
      );
    }),
  );

  test(`${name}: large requests and answers arrive intact, views into larger buffers included`, { timeout: TEST_TIMEOUT_MS }, () =>
    withTransports(harness, 2, async ([client, server]) => {
      // Both ways the payload is a view at an offset into a larger buffer, as codecs hand them out.
      server!.handle("reverse", async (payload) => {
        const larger = Buffer.alloc(payload.length + 100, 0xee);
        for (let i = 0; i < payload.length; i++) larger[50 + i] = payload[payload.length - 1 - i]!;
        return larger.subarray(50, 50 + payload.length);
      });
      for (const bytes of [0, 1, 300_000]) {
        const larger = Buffer.alloc(bytes + 20);
        for (let i = 0; i < larger.length; i++) larger[i] = (i * 7 + 3) & 0xff;
        const payload = larger.subarray(7, 7 + bytes);
        const answer = await client!.request(server!.localAddress!, "reverse", payload);
        assert.deepEqual(answer, Buffer.from(payload).reverse(), `the ${bytes}-byte payload came back reversed`);
      }
    }),
  );

  test(`${name}: a request or an answer past maxFrameBytes is refused with EINVAL, and the connection serves on`, { timeout: TEST_TIMEOUT_MS }, () =>
    withTransports(
      harness,
      2,
      async ([client, server]) => {
        server!.handle("sized", async (payload) => Buffer.alloc(Number(payload.toString())));
        const address = server!.localAddress!;
        await assert.rejects(client!.request(address, "sized", Buffer.alloc(70_000)), raftCode("EINVAL", /a "sized" request makes a frame of 700\d\d bytes, above maxFrameBytes 65536; send it in chunks/));
        await assert.rejects(client!.request(address, "sized", Buffer.from("70000")), raftCode("EINVAL", /the answer of service "sized" makes a frame of 700\d\d bytes, above maxFrameBytes 65536; answer in chunks/));
        assert.equal((await client!.request(address, "sized", Buffer.from("60000"))).length, 60_000);
      },
      { maxFrameBytes: 64 * 1024 },
    ),
  );

  test(`${name}: a handler's RaftError comes back with its code; unknown services are EINVAL`, { timeout: TEST_TIMEOUT_MS }, () =>
    withTransports(harness, 2, async ([client, server]) => {
      const address = server!.localAddress!;
      server!.handle("leader-only", async () => {
        throw new RaftError("ENOTLEADER", "ask 127.0.0.1:9", "127.0.0.1:9");
      });
      server!.handle("buggy", async () => {
        throw new TypeError("x is undefined");
      });
      server!.handle("ok", async (payload) => payload);
      server!.handle("not-bytes", async () => "text" as unknown as Uint8Array);
      await assert.rejects(client!.request(address, "not-bytes", Buffer.alloc(0)), raftCode("ESTATEMACHINE", /answered with string, not bytes/));
      await assert.rejects(client!.request(address, "leader-only", Buffer.alloc(0)), raftCode("ENOTLEADER", /ask 127\.0\.0\.1:9/));
      const notLeader = await client!.request(address, "leader-only", Buffer.alloc(0)).catch((e: unknown) => e);
      assert.ok(notLeader instanceof RaftError && notLeader.leaderHint === "127.0.0.1:9", "the leader hint crosses the wire");
      await assert.rejects(client!.request(address, "buggy", Buffer.alloc(0)), raftCode("ESTATEMACHINE", /service "buggy" failed: x is undefined/));
      await assert.rejects(client!.request(address, "nope", Buffer.alloc(0)), raftCode("EINVAL", /no service "nope" here/));
      // The connection survives answered errors.
      assert.equal((await client!.request(address, "ok", Buffer.from("still here"))).toString(), "still here");
      await assert.rejects(client!.request("not-an-address", "ok", Buffer.alloc(0)), raftCode("EINVAL", /host:port/));
      assert.throws(() => client!.sendRaft("g1", heartbeat("a:1", "b", 1)), raftCode("EINVAL", /host:port\[:idx\[:priority\]\]/));
    }),
  );

  test(`${name}: a request without an answer in time rejects with ETIMEDOUT`, { timeout: TEST_TIMEOUT_MS }, () =>
    withTransports(harness, 2, async ([client, server]) => {
      server!.handle("slow", async () => {
        await sleep(400);
        return Buffer.from("late");
      });
      const started = Date.now();
      await assert.rejects(client!.request(server!.localAddress!, "slow", Buffer.alloc(0), { timeoutMs: 50 }), raftCode("ETIMEDOUT", /within 50 ms/));
      assert.ok(Date.now() - started < 300, "the timeout fired on time");
      assert.equal(client!.stats().requestsTimedOut, 1);
    }),
  );

  test(`${name}: close rejects pending requests with ESHUTDOWN, and so does every later call`, { timeout: TEST_TIMEOUT_MS }, () =>
    withTransports(harness, 2, async ([client, server]) => {
      server!.handle("never", () => new Promise<Uint8Array>(() => {}));
      const pending = client!.request(server!.localAddress!, "never", Buffer.alloc(0), { timeoutMs: 4000 });
      await sleep(50);
      await client!.close();
      await assert.rejects(pending, raftCode("ESHUTDOWN"));
      await assert.rejects(client!.request(server!.localAddress!, "never", Buffer.alloc(0)), raftCode("ESHUTDOWN"));
      client!.sendRaft("g1", heartbeat("127.0.0.1:1", `${server!.localAddress}:0`, 1));
      assert.equal(client!.stats().raftMessagesDropped, 1);
    }),
  );

  test(`${name}: a message for an unknown group is refused with a clear error, and other traffic goes on`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const senderErrors: RaftError[] = [];
    const receiverErrors: RaftError[] = [];
    const sender = await harness.create({ onError: (error) => senderErrors.push(error) });
    const receiver = await harness.create({ onError: (error) => receiverErrors.push(error) });
    try {
      const to = `${receiver.localAddress}:0`;
      const got: Message[] = [];
      receiver.registerGroup("known", to, (m) => got.push(m));
      sender.sendRaft("unknown", heartbeat(`${sender.localAddress}:0`, to, 1));
      sender.sendRaft("known", heartbeat(`${sender.localAddress}:0`, `${receiver.localAddress}:7`, 1));
      await eventually("both refusals", () => senderErrors.some((e) => /group "unknown" is not served/.test(e.message)) && receiverErrors.length >= 1);
      assert.equal(receiverErrors[0]!.code, "EINVAL");
      assert.match(receiverErrors[0]!.message, /group "unknown" is not served by this process \(it serves "known"\)/);
      let commit = 1;
      await eventually(
        "the known group to be served again",
        () => got.length > 0,
        () => sender.sendRaft("known", heartbeat(`${sender.localAddress}:0`, to, ++commit)),
      );
      sender.sendRaft("known", heartbeat(`${sender.localAddress}:0`, `${receiver.localAddress}:7`, 1));
      await eventually("the unknown peer refusal", () => senderErrors.some((e) => /group "known" has no peer .*:7 in this process \(local peers: ".*:0"\)/.test(e.message)));
    } finally {
      await Promise.all([sender.close(), receiver.close()]);
    }
  });
}
