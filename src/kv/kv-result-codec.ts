/**
 * The results of calls on the wire (inside a response, and the remembered
 * results of sessions inside a snapshot). Byte fields decode as views into
 * the input.
 */
import { RAFT_ERROR_CODES, RaftError, type RaftErrorCode } from "../errors.js";
import type { BinaryReader, BinaryWriter } from "../transport/binary.js";
import { MAX_NAME_BYTES } from "../transport/protocol.js";
import { MAX_KEYS_PER_OP, MAX_KEY_BYTES, MAX_LOCK_OWNER_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES, type KvCallResult, type KvEntry, type WatchEvent, type WriteResult } from "./commands.js";
import { MAX_WATCH_HISTORY_EVENTS } from "./kv-validation.js";
import { FieldReader, codesOf, writeNullableBytes } from "./kv-wire.js";

/** Error texts are for people; longer ones are cut when encoded, refused when decoded. */
export const MAX_ERROR_MESSAGE_CHARS = 2000;

// Type codes: position + 1. Append only (and bump the versions of the payloads holding results).
const RESULT_TYPES: readonly KvCallResult["type"][] = ["ok", "value", "bool", "count", "sequence", "lock", "values", "entries", "events", "error"];
const EVENT_TYPES: readonly WatchEvent["type"][] = ["put", "delete"];
const RESULT_CODES = codesOf(RESULT_TYPES);
const EVENT_CODES = codesOf(EVENT_TYPES);
const ERROR_CODES: ReadonlySet<string> = new Set(RAFT_ERROR_CODES);

/** A write's result inside another payload (the sessions' remembered results in a snapshot). */
export function writeWriteResult(writer: BinaryWriter, result: WriteResult): void {
  writeKvCallResult(writer, result);
}

/** Reads what writeWriteResult wrote; ECORRUPT when malformed or not a write's result. */
export function readWriteResult(reader: BinaryReader, what: string): WriteResult {
  const result = readKvCallResult(new FieldReader(reader, what, "ECORRUPT"), "the result");
  if (result.type === "values" || result.type === "entries" || result.type === "events") {
    throw new RaftError("ECORRUPT", `${what}: a ${result.type} result is not the result of a write`);
  }
  return result;
}

export function writeKvCallResult(writer: BinaryWriter, result: KvCallResult): void {
  writer.u8(RESULT_CODES[result.type]);
  switch (result.type) {
    case "ok":
      return;
    case "value":
      writeNullableBytes(writer, result.value);
      return;
    case "bool":
      writer.u8(result.value ? 1 : 0);
      return;
    case "count":
      writer.u53(result.value);
      return;
    case "sequence":
      writer.u53(result.start);
      writer.u53(result.end);
      return;
    case "lock":
      writer.u8(result.acquired ? 1 : 0);
      writer.string(result.owner);
      writer.u53(result.token);
      writer.u53(result.expiresAtMs);
      return;
    case "values":
      writer.u32(result.values.length);
      for (const value of result.values) writeNullableBytes(writer, value);
      return;
    case "entries":
      writer.u32(result.entries.length);
      for (const entry of result.entries) {
        writer.bytes(entry.key);
        writer.bytes(entry.value);
      }
      return;
    case "events":
      writer.u32(result.events.length);
      for (const event of result.events) {
        writer.u53(event.index);
        writer.u8(EVENT_CODES[event.type]);
        writer.bytes(event.key);
        if (event.type === "put") writer.bytes(event.value ?? new Uint8Array(0));
      }
      writer.u53(result.nextIndex);
      return;
    case "error":
      writer.string(result.code);
      writer.string(result.message.length > MAX_ERROR_MESSAGE_CHARS ? result.message.slice(0, MAX_ERROR_MESSAGE_CHARS) : result.message);
      writer.u8(result.leaderHint === null ? 0 : 1);
      if (result.leaderHint !== null) writer.string(result.leaderHint);
      return;
  }
}

export function readKvCallResult(reader: FieldReader, what: string): KvCallResult {
  const type = reader.code(`${what}'s type`, RESULT_TYPES);
  switch (type) {
    case "ok":
      return { type };
    case "value":
      return { type, value: reader.nullableBoundedBytes(`${what}'s value`, MAX_VALUE_BYTES) };
    case "bool":
      return { type, value: reader.flag(`${what}'s value`) };
    case "count":
      return { type, value: reader.u53() };
    case "sequence": {
      const start = reader.u53();
      const end = reader.u53();
      if (end < start) reader.fail(`${what}: a sequence ends at ${end}, before its start ${start}`);
      return { type, start, end };
    }
    case "lock": {
      const acquired = reader.flag(`${what}'s acquired`);
      const owner = reader.string(`${what}'s owner`, 0, MAX_LOCK_OWNER_BYTES);
      return { type, acquired, owner, token: reader.u53(), expiresAtMs: reader.u53() };
    }
    case "values": {
      const values: (Uint8Array | null)[] = [];
      const count = reader.count(`${what}'s values`, 0, MAX_KEYS_PER_OP);
      for (let i = 0; i < count; i++) values.push(reader.nullableBoundedBytes(`${what}'s value ${i}`, MAX_VALUE_BYTES));
      return { type, values };
    }
    case "entries": {
      const entries: KvEntry[] = [];
      const count = reader.count(`${what}'s entries`, 0, MAX_SCAN_LIMIT);
      for (let i = 0; i < count; i++) {
        entries.push({ key: reader.boundedBytes(`${what}'s key ${i}`, MAX_KEY_BYTES), value: reader.boundedBytes(`${what}'s value ${i}`, MAX_VALUE_BYTES) });
      }
      return { type, entries };
    }
    case "events":
      return readEvents(reader, what);
    case "error": {
      const code = reader.rawString();
      if (!ERROR_CODES.has(code)) reader.fail(`${what} has the unknown error code ${JSON.stringify(code.slice(0, 32))}`);
      const message = reader.rawString();
      if (message.length > MAX_ERROR_MESSAGE_CHARS) reader.fail(`${what} has an error text of ${message.length} characters (at most ${MAX_ERROR_MESSAGE_CHARS})`);
      const leaderHint = reader.flag(`${what}'s leader hint`) ? reader.string(`${what}'s leader hint`, 1, MAX_NAME_BYTES) : null;
      return { type, code: code as RaftErrorCode, message, leaderHint };
    }
  }
}

function readEvents(reader: FieldReader, what: string): KvCallResult {
  const events: WatchEvent[] = [];
  const count = reader.count(`${what}'s events`, 0, MAX_WATCH_HISTORY_EVENTS);
  let previousIndex = 1;
  for (let i = 0; i < count; i++) {
    const index = reader.u53();
    if (index < previousIndex) reader.fail(`${what}: event ${i} is at index ${index}, before ${previousIndex} (events come in log order)`);
    previousIndex = index;
    const type = reader.code(`${what}'s event type`, EVENT_TYPES);
    const key = reader.boundedBytes(`${what}'s event key`, MAX_KEY_BYTES);
    const value = type === "put" ? reader.boundedBytes(`${what}'s event value`, MAX_VALUE_BYTES) : null;
    events.push({ index, type, key, value });
  }
  const nextIndex = reader.u53();
  if (count > 0 && nextIndex <= previousIndex) reader.fail(`${what}: nextIndex ${nextIndex} is not past the last event's index ${previousIndex}`);
  return { type: "events", events, nextIndex };
}
