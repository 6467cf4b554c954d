import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RaftError } from "../src/errors.js";
import type { Message } from "../src/core/messages.js";
import { EntryType } from "../src/core/types.js";
import { encodeFrame, FrameDecoder, FrameKind, type Frame } from "../src/transport/frame.js";
import { parseAddress, parsePeerId } from "../src/transport/peer-address.js";
import { reconnectDelayMs } from "../src/transport/backoff.js";
import { SendQueue } from "../src/transport/send-queue.js";
import { PendingRequests } from "../src/transport/pending-requests.js";
import { emptyStats } from "../src/transport/transport.js";
import {
  decodeError,
  decodeHello,
  decodeRaft,
  decodeRequest,
  decodeResponse,
  encodeError,
  encodeHello,
  encodeRaft,
  encodeRequest,
  encodeResponse,
  PROTOCOL_MAGIC,
} from "../src/transport/protocol.js";

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) for (const frame of decoder.push(chunk)) frames.push({ kind: frame.kind, body: Buffer.from(frame.body) });
  return frames;
}

function isCorrupt(pattern: RegExp) {
  return (error: unknown): boolean => error instanceof RaftError && error.code === "ECORRUPT" && pattern.test(error.message);
}

test("frames survive any split of the stream: partial frames and many frames per chunk", () => {
  const kinds = [FrameKind.Raft, FrameKind.Request, FrameKind.Response, FrameKind.HelloOk];
  fc.assert(
    fc.property(
      fc.array(fc.record({ kind: fc.constantFrom(...kinds), body: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
      (frames, cuts) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f.kind, f.body)));
        const chunks: Buffer[] = [];
        let offset = 0;
        for (let i = 0; offset < stream.length; i++) {
          const size = cuts[i % cuts.length]!;
          chunks.push(stream.subarray(offset, offset + size));
          offset += size;
        }
        const decoded = decodeAll(new FrameDecoder(), chunks);
        assert.deepEqual(
          decoded.map((f) => ({ kind: f.kind, body: [...f.body] })),
          frames.map((f) => ({ kind: f.kind, body: [...f.body] })),
        );
      },
    ),
    { numRuns: 200 },
  );
});

test("a frame arriving one byte at a time is held until complete, then yielded once", () => {
  const decoder = new FrameDecoder();
  const frame = encodeFrame(FrameKind.Request, Buffer.from("hello"));
  const frames = decodeAll(decoder, [...frame].map((byte) => Buffer.from([byte])));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.body.toString(), "hello");
  assert.equal(decoder.bufferedByteCount, 0);
});

test("an oversized length is refused from the header alone, before its body is buffered", () => {
  const decoder = new FrameDecoder(4096);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(5000, 0);
  header[4] = FrameKind.Raft;
  assert.throws(() => decodeAll(decoder, [header]), isCorrupt(/5005 bytes exceeds maxFrameBytes 4096/));
  // The stream is dead after that: the connection must be closed.
  assert.throws(() => decodeAll(decoder, [encodeFrame(FrameKind.Raft)]), isCorrupt(/already failed/));
});

test("an unknown frame kind is ECORRUPT, after the good frames before it are yielded", () => {
  const decoder = new FrameDecoder();
  const good = encodeFrame(FrameKind.Request, Buffer.from("ok"));
  const bad = encodeFrame(FrameKind.Request, Buffer.from("??"));
  bad[4] = 99;
  const seen: Frame[] = [];
  assert.throws(() => {
    for (const frame of decoder.push(Buffer.concat([good, bad]))) seen.push(frame);
  }, isCorrupt(/unknown frame kind 99/));
  assert.equal(seen.length, 1);
});

test("handshake, error, Raft, request and response bodies round-trip", () => {
  const body = (frame: Buffer): Buffer => frame.subarray(5);
  const hello = { magic: PROTOCOL_MAGIC, version: 1, clusterName: "prod", senderAddress: "10.0.0.1:8081" };
  assert.deepEqual(decodeHello(body(encodeHello(hello))), hello);
  assert.throws(() => decodeHello(body(encodeHello({ ...hello, magic: 0x47455420 }))), isCorrupt(/not a tsraft transport/));

  const error = decodeError(body(encodeError(new RaftError("EPERM", "cluster name mismatch"))));
  assert.equal(error.code, "EPERM");
  assert.equal(error.message, "EPERM: cluster name mismatch");

  const message: Message = {
    type: "append",
    from: "127.0.0.1:1:0",
    to: "127.0.0.1:2:0",
    term: 3,
    prevIndex: 7,
    prevTerm: 2,
    commit: 7,
    entries: [{ index: 8, term: 3, type: EntryType.Normal, data: Buffer.from("x") }],
  };
  const raft = decodeRaft(body(encodeRaft("group-1", message)));
  assert.equal(raft.groupId, "group-1");
  assert.deepEqual({ ...raft.message, entries: [] }, { ...message, entries: [] });

  const request = decodeRequest(body(encodeRequest(42, "cli", Buffer.from("payload"))));
  assert.deepEqual({ ...request, payload: request.payload.toString() }, { requestId: 42, service: "cli", payload: "payload" });

  const ok = decodeResponse(body(encodeResponse(42, { ok: true, payload: Buffer.from("answer") })));
  assert.ok(ok.ok && ok.payload.toString() === "answer" && ok.requestId === 42);
  const failed = decodeResponse(body(encodeResponse(43, { ok: false, error: new RaftError("ENOTLEADER", "ask b") })));
  assert.ok(!failed.ok && failed.error.code === "ENOTLEADER" && failed.error.message === "ENOTLEADER: ask b");
});

test("peer ids parse as host:port[:idx[:priority]] and bad ones say the expected form", () => {
  assert.deepEqual(parsePeerId("127.0.0.1:8081"), { host: "127.0.0.1", port: 8081, address: "127.0.0.1:8081", index: 0, priority: -1 });
  assert.deepEqual(parsePeerId("node-a.local:9000:2:100"), { host: "node-a.local", port: 9000, address: "node-a.local:9000", index: 2, priority: 100 });
  for (const bad of ["", "a", "a:b", "a:0", "a:70000", "a:1:x", "a:1:0:-2", "a:1:0:1:9", " a:1"]) {
    assert.throws(
      () => parsePeerId(bad),
      (error: unknown) => error instanceof RaftError && error.code === "EINVAL" && error.message.includes("host:port[:idx[:priority]]"),
      bad,
    );
  }
  assert.throws(() => parseAddress("127.0.0.1:1:0"), /not of the form host:port \(for example/);
});

test("reconnect delays double per failure up to the cap, with jitter inside [half, full]", () => {
  const options = { reconnectMinDelayMs: 100, reconnectMaxDelayMs: 1000 };
  assert.equal(reconnectDelayMs(1, options, () => 0), 50);
  assert.equal(reconnectDelayMs(1, options, () => 1), 100);
  assert.equal(reconnectDelayMs(3, options, () => 1), 400);
  assert.equal(reconnectDelayMs(50, options, () => 1), 1000);
  assert.equal(reconnectDelayMs(50, options, () => 0), 500);
});

test("the send queue refuses past its bounds in frames and in bytes", () => {
  const queue = new SendQueue(2, 100);
  const frame = (bytes: number) => ({ frame: Buffer.alloc(bytes), raft: null });
  assert.ok(queue.offer(frame(40)));
  assert.ok(!queue.offer(frame(61)), "bytes bound");
  assert.ok(queue.offer(frame(60)));
  assert.ok(!queue.offer(frame(1)), "frames bound");
  assert.equal(queue.shift()!.frame.length, 40);
  assert.deepEqual([queue.frames, queue.bytes], [1, 60]);
  assert.equal(queue.clear().length, 1);
  assert.deepEqual([queue.frames, queue.bytes], [0, 0]);
});

test("pending requests are bounded, time out, ignore late answers, and all fail together", async () => {
  const stats = emptyStats();
  const pending = new PendingRequests(2, stats);
  const first = pending.add("10.0.0.1:1", "svc", 20);
  const second = pending.add("10.0.0.1:1", "svc", 5000);
  assert.throws(() => pending.add("10.0.0.1:1", "svc", 5000), (e: unknown) => e instanceof RaftError && e.code === "EBUSY" && /maxPendingRequests/.test(e.message));
  await assert.rejects(first.answer, (e: unknown) => e instanceof RaftError && e.code === "ETIMEDOUT" && /no answer from 10\.0\.0\.1:1 to "svc" within 20 ms/.test(e.message));
  assert.equal(pending.settle(first.requestId, { ok: true, payload: Buffer.from("late") }), false, "a late answer is ignored");
  pending.rejectAll(new RaftError("ESHUTDOWN", "closed"));
  await assert.rejects(second.answer, (e: unknown) => e instanceof RaftError && e.code === "ESHUTDOWN");
  assert.deepEqual([pending.size, stats.requestsTimedOut, stats.requestsRefusedBusy], [0, 1, 1]);
});
