import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RaftError } from "../src/errors.js";
import type { Message } from "../src/core/messages.js";
import { EntryType } from "../src/core/types.js";
import { decodeMessage, encodeMessage } from "../src/transport/message-codec.js";
import { decodeRaft, encodeRaft } from "../src/transport/protocol.js";

const id = fc.string({ minLength: 1, maxLength: 40 });
const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const small = fc.integer({ min: 0, max: 1_000_000 });
const envelope = fc.record({ from: id, to: id, term: small });
const conf = fc.record({ voters: fc.array(id, { maxLength: 5 }), outgoing: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }) });

const append = fc
  .record({
    env: envelope,
    prevIndex: fc.integer({ min: 0, max: 2 ** 40 }),
    commit: u53,
    entries: fc.array(fc.record({ type: fc.constantFrom(EntryType.Normal, EntryType.Config, EntryType.Noop), data: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 8 }),
  })
  .map(({ env, prevIndex, commit, entries }): Message => {
    // Terms that never go down and never pass the message's: what a correct leader sends.
    const prevTerm = Math.floor(env.term / 2);
    return {
      type: "append",
      ...env,
      prevIndex,
      prevTerm,
      commit,
      entries: entries.map((e, i) => ({ index: prevIndex + 1 + i, term: i === entries.length - 1 ? env.term : prevTerm, type: e.type, data: e.data })),
    };
  });

const message: fc.Arbitrary<Message> = fc.oneof(
  envelope.chain((e) => fc.record({ lastIndex: u53, lastTerm: u53 }).map((r): Message => ({ type: "preVote", ...e, ...r }))),
  envelope.chain((e) => fc.record({ lastIndex: u53, lastTerm: u53, force: fc.boolean() }).map((r): Message => ({ type: "vote", ...e, ...r }))),
  envelope.chain((e) => fc.boolean().map((reject): Message => ({ type: "preVoteResp", ...e, reject }))),
  envelope.chain((e) => fc.boolean().map((reject): Message => ({ type: "voteResp", ...e, reject }))),
  append,
  envelope.chain((e) => fc.record({ reject: fc.boolean(), index: u53, hintIndex: u53, hintTerm: u53 }).map((r): Message => ({ type: "appendResp", ...e, ...r }))),
  envelope.chain((e) => fc.record({ commit: u53, readSeq: u53, sentTick: fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), quiesce: fc.boolean() }).map((r): Message => ({ type: "heartbeat", ...e, ...r }))),
  envelope.chain((e) => fc.record({ readSeq: u53, sentTick: fc.integer() }).map((r): Message => ({ type: "heartbeatResp", ...e, ...r }))),
  envelope.chain((e) => fc.record({ index: u53, term: u53, conf }).map((snapshot): Message => ({ type: "snapshot", ...e, snapshot }))),
  envelope.chain((e) => fc.record({ index: u53, reject: fc.boolean() }).map((r): Message => ({ type: "snapshotStatus", ...e, ...r }))),
  envelope.map((e): Message => ({ type: "timeoutNow", ...e })),
  envelope.chain((e) => fc.string().map((context): Message => ({ type: "readIndex", ...e, context }))),
  envelope.chain((e) =>
    fc.record({ context: fc.string(), index: fc.integer({ min: -1, max: 2 ** 40 }), error: fc.constantFrom(null, "ENOTLEADER" as const, "EAGAIN" as const) }).map((r): Message => ({ type: "readIndexResp", ...e, ...r })),
  ),
);

/** Plain data to compare: payloads as byte lists (they decode as Buffers), plain object prototypes. */
function normalize(m: Message): unknown {
  const plain = m.type === "append" ? { ...m, entries: m.entries.map((e) => ({ ...e, data: [...e.data] })) } : m;
  return JSON.parse(JSON.stringify(plain));
}

test("every message survives an encode/decode round trip", () => {
  fc.assert(
    fc.property(message, (m) => {
      assert.deepEqual(normalize(decodeMessage(encodeMessage(m))), normalize(m));
    }),
    { numRuns: 2000 },
  );
});

test("an append's frame is written into a buffer sized for it: its entries are copied once and no buffer is left half empty", () => {
  const entries = Array.from({ length: 3 }, (_, i) => ({ index: 5 + i, term: 2, type: EntryType.Normal, data: new Uint8Array(30_000 + i).fill(i) }));
  const message: Message = { type: "append", from: "127.0.0.1:8181", to: "127.0.0.1:8182", term: 2, prevIndex: 4, prevTerm: 1, commit: 3, entries };
  const frame = encodeRaft("kv", message);
  assert.ok(frame.buffer.byteLength < frame.byteLength + 512, `a frame of ${frame.byteLength} bytes in a buffer of ${frame.buffer.byteLength}`);
  const decoded = decodeRaft(frame.subarray(5)).message;
  assert.equal(decoded.type, "append");
  assert.deepEqual(decoded.type === "append" && decoded.entries.map((entry) => entry.data.byteLength), [30_000, 30_001, 30_002]);
});

test("entry payloads are views into the frame, not copies", () => {
  const frame = encodeMessage({ type: "append", from: "a", to: "b", term: 2, prevIndex: 4, prevTerm: 1, commit: 3, entries: [{ index: 5, term: 2, type: EntryType.Normal, data: new Uint8Array([7, 8, 9]) }] });
  const decoded = decodeMessage(frame);
  assert.equal(decoded.type, "append");
  const data = decoded.type === "append" ? decoded.entries[0]!.data : new Uint8Array();
  assert.deepEqual([...data], [7, 8, 9]);
  assert.equal((data as Buffer).buffer, frame.buffer, "the payload shares the frame's memory");
});

test("random and mutated frames are refused with ECORRUPT, never another exception", () => {
  const refusedWell = (bytes: Uint8Array): void => {
    try {
      decodeMessage(Buffer.from(bytes));
    } catch (error) {
      assert.ok(error instanceof RaftError, `a ${String(error)} escaped the decoder`);
      assert.equal(error.code, "ECORRUPT");
      assert.ok(error.message.length > 20, "the error says what is wrong");
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), refusedWell), { numRuns: 3000 });
  fc.assert(
    fc.property(message, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (m, at, value, cut) => {
      const frame = Buffer.from(encodeMessage(m));
      frame[at % frame.length] = value;
      refusedWell(frame);
      refusedWell(frame.subarray(0, cut % frame.length));
    }),
    { numRuns: 3000 },
  );
});

test("semantic checks: entries whose terms go down or pass the leader's term are refused", () => {
  const base = { type: "append" as const, from: "a", to: "b", term: 3, prevIndex: 0, prevTerm: 2, commit: 0 };
  const bad = [
    [{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array() }], // below prevTerm
    [{ index: 1, term: 4, type: EntryType.Normal, data: new Uint8Array() }], // above the message's term
  ];
  for (const entries of bad) {
    assert.throws(() => decodeMessage(encodeMessage({ ...base, entries })), (e: unknown) => e instanceof RaftError && e.code === "ECORRUPT" && /term/.test(e.message));
  }
  const trailing = Buffer.concat([encodeMessage({ type: "timeoutNow", from: "a", to: "b", term: 1 }), Buffer.from([0])]);
  assert.throws(() => decodeMessage(trailing), /trailing/);
  const unknownType = Buffer.from(encodeMessage({ type: "timeoutNow", from: "a", to: "b", term: 1 }));
  unknownType[0] = 99;
  assert.throws(() => decodeMessage(unknownType), /unknown Raft message type 99/);
});
