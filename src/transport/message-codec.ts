/**
 * The binary codec of Raft messages. Hand-written because AppendEntries is
 * the hot path: entries are written back to back, their indexes implied by
 * prevIndex, and decoded as views into the received frame (no copy).
 * Decoding validates everything a peer could get wrong and throws ECORRUPT
 * with what and where, so a bad frame closes one connection, never the node.
 */
import { RAFT_ERROR_CODES, RaftError, type RaftErrorCode } from "../errors.js";
import type { Message } from "../core/messages.js";
import { EntryType, type ConfState, type Entry, type NodeId, type SnapshotMeta } from "../core/types.js";
import { BinaryReader, BinaryWriter } from "./binary.js";

const TYPE_CODES = {
  preVote: 1,
  preVoteResp: 2,
  vote: 3,
  voteResp: 4,
  append: 5,
  appendResp: 6,
  heartbeat: 7,
  heartbeatResp: 8,
  snapshot: 9,
  timeoutNow: 10,
  readIndex: 11,
  readIndexResp: 12,
  snapshotStatus: 13,
} as const satisfies Record<Message["type"], number>;

const TYPE_BY_CODE = new Map<number, Message["type"]>(Object.entries(TYPE_CODES).map(([type, code]) => [code, type as Message["type"]]));

/** Peer ids are short (`ip:port:idx:priority`); a longer one is a broken peer. */
export const MAX_NODE_ID_BYTES = 256;
const ERROR_CODES: ReadonlySet<string> = new Set(RAFT_ERROR_CODES);
const ENTRY_TYPES: ReadonlySet<number> = new Set(Object.values(EntryType));

/** Fixed fields of a message (type, terms, indexes, flags) and the length prefixes of its two ids, generously. */
const MESSAGE_FIXED_BYTES = 96;
/** Term, type and length of one entry of an append. */
const ENTRY_FIXED_BYTES = 8 + 1 + 4;

/**
 * A writer's starting size for the message: for an append, all it needs, so
 * the writer never grows (growing copies the entries once per doubling and
 * leaves a buffer up to twice their size). Other messages are small; the few
 * with variable parts (a snapshot's configuration) may grow.
 */
export function encodedMessageBytes(m: Message): number {
  let bytes = MESSAGE_FIXED_BYTES + Buffer.byteLength(m.from) + Buffer.byteLength(m.to);
  if (m.type === "append") for (const entry of m.entries) bytes += ENTRY_FIXED_BYTES + entry.data.byteLength;
  return bytes;
}

export function encodeMessage(m: Message, writer = new BinaryWriter(encodedMessageBytes(m))): Buffer {
  writer.u8(TYPE_CODES[m.type]);
  writer.string(m.from);
  writer.string(m.to);
  writer.u53(m.term);
  switch (m.type) {
    case "preVote":
      writer.u53(m.lastIndex);
      writer.u53(m.lastTerm);
      break;
    case "vote":
      writer.u53(m.lastIndex);
      writer.u53(m.lastTerm);
      writer.u8(m.force ? 1 : 0);
      break;
    case "preVoteResp":
    case "voteResp":
      writer.u8(m.reject ? 1 : 0);
      break;
    case "append":
      writer.u53(m.prevIndex);
      writer.u53(m.prevTerm);
      writer.u53(m.commit);
      writer.u32(m.entries.length);
      for (const entry of m.entries) {
        writer.u53(entry.term);
        writer.u8(entry.type);
        writer.bytes(entry.data);
      }
      break;
    case "appendResp":
      writer.u8(m.reject ? 1 : 0);
      writer.u53(m.index);
      writer.u53(m.hintIndex);
      writer.u53(m.hintTerm);
      break;
    case "heartbeat":
      writer.u53(m.commit);
      writer.u53(m.readSeq);
      writer.i53(m.sentTick);
      writer.u8(m.quiesce ? 1 : 0);
      break;
    case "heartbeatResp":
      writer.u53(m.readSeq);
      writer.i53(m.sentTick);
      break;
    case "snapshot":
      writeSnapshotMeta(writer, m.snapshot);
      break;
    case "snapshotStatus":
      writer.u53(m.index);
      writer.u8(m.reject ? 1 : 0);
      break;
    case "timeoutNow":
      break;
    case "readIndex":
      writer.string(m.context);
      break;
    case "readIndexResp":
      writer.string(m.context);
      writer.i53(m.index);
      writer.string(m.error ?? "");
      break;
  }
  return writer.finish();
}

export function decodeMessage(frame: Buffer): Message {
  const reader = new BinaryReader(frame, "a Raft message");
  const code = reader.u8();
  const type = TYPE_BY_CODE.get(code);
  if (type === undefined) throw new RaftError("ECORRUPT", `unknown Raft message type ${code}; is the peer running a newer tsraft?`);
  const from = nodeId(reader, "from");
  const to = nodeId(reader, "to");
  const term = reader.u53();
  const base = { from, to, term };
  let message: Message;
  switch (type) {
    case "preVote":
      message = { type, ...base, lastIndex: reader.u53(), lastTerm: reader.u53() };
      break;
    case "vote":
      message = { type, ...base, lastIndex: reader.u53(), lastTerm: reader.u53(), force: flag(reader) };
      break;
    case "preVoteResp":
    case "voteResp":
      message = { type, ...base, reject: flag(reader) };
      break;
    case "append":
      message = readAppend(reader, base);
      break;
    case "appendResp":
      message = { type, ...base, reject: flag(reader), index: reader.u53(), hintIndex: reader.u53(), hintTerm: reader.u53() };
      break;
    case "heartbeat":
      message = { type, ...base, commit: reader.u53(), readSeq: reader.u53(), sentTick: reader.i53(), quiesce: flag(reader) };
      break;
    case "heartbeatResp":
      message = { type, ...base, readSeq: reader.u53(), sentTick: reader.i53() };
      break;
    case "snapshot":
      message = { type, ...base, snapshot: readSnapshotMeta(reader) };
      break;
    case "snapshotStatus":
      message = { type, ...base, index: reader.u53(), reject: flag(reader) };
      break;
    case "timeoutNow":
      message = { type, ...base };
      break;
    case "readIndex":
      message = { type, ...base, context: reader.string() };
      break;
    case "readIndexResp":
      message = { type, ...base, context: reader.string(), index: reader.i53(), error: errorCode(reader) };
      break;
  }
  reader.end();
  return message;
}

function readAppend(reader: BinaryReader, base: { from: NodeId; to: NodeId; term: number }): Message {
  const prevIndex = reader.u53();
  const prevTerm = reader.u53();
  const commit = reader.u53();
  const count = reader.u32();
  const entries: Entry[] = [];
  let lastTerm = prevTerm;
  for (let i = 0; i < count; i++) {
    const term = reader.u53();
    const type = reader.u8();
    if (!ENTRY_TYPES.has(type)) throw new RaftError("ECORRUPT", `entry ${prevIndex + 1 + i} has unknown type ${type}`);
    // Log matching needs terms that never go down, and no entry newer than its leader.
    if (term < lastTerm || term > base.term) {
      throw new RaftError("ECORRUPT", `entry ${prevIndex + 1 + i} has term ${term} outside [${lastTerm}, ${base.term}]`);
    }
    lastTerm = term;
    entries.push({ index: prevIndex + 1 + i, term, type: type as EntryType, data: reader.bytes() });
  }
  if (!Number.isSafeInteger(prevIndex + count)) throw new RaftError("ECORRUPT", "append entries run past index 2^53");
  return { type: "append", ...base, prevIndex, prevTerm, commit, entries };
}

function writeSnapshotMeta(writer: BinaryWriter, meta: SnapshotMeta): void {
  writer.u53(meta.index);
  writer.u53(meta.term);
  for (const ids of [meta.conf.voters, meta.conf.outgoing, meta.conf.learners]) {
    writer.u32(ids.length);
    for (const id of ids) writer.string(id);
  }
}

/** The most members a configuration may list; more is a broken peer. */
const MAX_MEMBERS = 1024;

function readSnapshotMeta(reader: BinaryReader): SnapshotMeta {
  const index = reader.u53();
  const term = reader.u53();
  const list = (what: string): NodeId[] => {
    const count = reader.u32();
    if (count > MAX_MEMBERS) throw new RaftError("ECORRUPT", `a snapshot's ${what} list has ${count} members (at most ${MAX_MEMBERS})`);
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) ids.push(nodeId(reader, what));
    return ids;
  };
  const conf: ConfState = { voters: list("voters"), outgoing: list("outgoing"), learners: list("learners") };
  return { index, term, conf };
}

function nodeId(reader: BinaryReader, what: string): NodeId {
  const id = reader.string();
  if (id.length === 0 || Buffer.byteLength(id) > MAX_NODE_ID_BYTES) {
    throw new RaftError("ECORRUPT", `a message's ${what} peer id is empty or longer than ${MAX_NODE_ID_BYTES} bytes`);
  }
  return id;
}

function flag(reader: BinaryReader): boolean {
  const value = reader.u8();
  if (value > 1) throw new RaftError("ECORRUPT", `a boolean field holds ${value}`);
  return value === 1;
}

function errorCode(reader: BinaryReader): RaftErrorCode | null {
  const code = reader.string();
  if (code === "") return null;
  if (!ERROR_CODES.has(code)) throw new RaftError("ECORRUPT", `unknown error code "${code.slice(0, 32)}" in a read answer`);
  return code as RaftErrorCode;
}
