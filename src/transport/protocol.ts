/**
 * The bodies of the frame kinds (see frame.ts). Every decoder validates what a
 * peer could get wrong and throws ECORRUPT, so a bad frame costs one
 * connection, never the process.
 */
import { RAFT_ERROR_CODES, RaftError, type RaftErrorCode } from "../errors.js";
import type { Message } from "../core/messages.js";
import { BinaryReader, type BinaryWriter } from "./binary.js";
import { beginFrame, encodeFrame, finishFrame, FRAME_HEADER_BYTES, FrameKind } from "./frame.js";
import { decodeMessage, encodeMessage, encodedMessageBytes } from "./message-codec.js";

/** "TSRF": tells a tsraft peer from anything else that dials our port. */
export const PROTOCOL_MAGIC = 0x54535246;
/** Bumped on any incompatible change of frames or message codecs. */
export const PROTOCOL_VERSION = 1;
/** Group ids, service names and cluster names are short labels. */
export const MAX_NAME_BYTES = 256;
/** Error texts are for people; longer ones are cut rather than refused. */
const MAX_ERROR_MESSAGE_CHARS = 2000;
const ERROR_CODES: ReadonlySet<string> = new Set(RAFT_ERROR_CODES);

export interface Hello {
  readonly magic: number;
  readonly version: number;
  readonly clusterName: string;
  /** The sender's listening address (`host:port`), or "" for a client that does not listen. */
  readonly senderAddress: string;
}

export function encodeHello(hello: Hello): Buffer {
  const writer = beginFrame(FrameKind.Hello);
  writer.u32(hello.magic);
  writer.u32(hello.version);
  writer.string(hello.clusterName);
  writer.string(hello.senderAddress);
  return finishFrame(writer);
}

export function decodeHello(body: Buffer): Hello {
  const reader = new BinaryReader(body, "a handshake");
  const magic = reader.u32();
  // A wrong magic means the rest cannot be trusted to follow our layout.
  if (magic !== PROTOCOL_MAGIC) {
    throw new RaftError("ECORRUPT", `handshake magic is 0x${magic.toString(16)}, expected 0x${PROTOCOL_MAGIC.toString(16)}: the peer is not a tsraft transport`);
  }
  const version = reader.u32();
  const clusterName = name(reader, "cluster name", true);
  const senderAddress = name(reader, "sender address", true);
  reader.end();
  return { magic, version, clusterName, senderAddress };
}

export function encodeHelloOk(): Buffer {
  return encodeFrame(FrameKind.HelloOk);
}

export function encodeError(error: RaftError): Buffer {
  const writer = beginFrame(FrameKind.Error);
  writeError(writer, error);
  return finishFrame(writer);
}

/** Code, text and leader hint (empty when none): a service's ENOTLEADER tells where to go. */
function writeError(writer: BinaryWriter, error: RaftError): void {
  writer.string(error.code);
  writer.string(plainMessage(error).slice(0, MAX_ERROR_MESSAGE_CHARS));
  writer.string(error.leaderHint ?? "");
}

export function decodeError(body: Buffer): RaftError {
  const reader = new BinaryReader(body, "an error frame");
  const error = readError(reader);
  reader.end();
  return error;
}

export function encodeRaft(groupId: string, message: Message): Buffer {
  const writer = beginFrame(FrameKind.Raft, FRAME_HEADER_BYTES + 4 + Buffer.byteLength(groupId) + encodedMessageBytes(message));
  writer.string(groupId);
  encodeMessage(message, writer);
  return finishFrame(writer);
}

export function decodeRaft(body: Buffer): { groupId: string; message: Message } {
  const reader = new BinaryReader(body, "a Raft frame");
  const groupId = name(reader, "group id", false);
  return { groupId, message: decodeMessage(reader.rest()) };
}

export function encodeRequest(requestId: number, service: string, payload: Uint8Array): Buffer {
  const writer = beginFrame(FrameKind.Request, 64 + service.length + payload.byteLength);
  writer.u53(requestId);
  writer.string(service);
  writer.bytes(payload);
  return finishFrame(writer);
}

export function decodeRequest(body: Buffer): { requestId: number; service: string; payload: Buffer } {
  const reader = new BinaryReader(body, "a request frame");
  const requestId = reader.u53();
  const service = name(reader, "service name", false);
  const payload = reader.bytes();
  reader.end();
  return { requestId, service, payload };
}

export type ResponseBody = { readonly requestId: number } & ({ readonly ok: true; readonly payload: Buffer } | { readonly ok: false; readonly error: RaftError });

export function encodeResponse(requestId: number, outcome: { ok: true; payload: Uint8Array } | { ok: false; error: RaftError }): Buffer {
  const writer = beginFrame(FrameKind.Response, outcome.ok ? 32 + outcome.payload.byteLength : 256);
  writer.u53(requestId);
  writer.u8(outcome.ok ? 0 : 1);
  if (outcome.ok) {
    writer.bytes(outcome.payload);
  } else {
    writeError(writer, outcome.error);
  }
  return finishFrame(writer);
}

export function decodeResponse(body: Buffer): ResponseBody {
  const reader = new BinaryReader(body, "a response frame");
  const requestId = reader.u53();
  const status = reader.u8();
  let response: ResponseBody;
  if (status === 0) response = { requestId, ok: true, payload: reader.bytes() };
  else if (status === 1) response = { requestId, ok: false, error: readError(reader) };
  else throw new RaftError("ECORRUPT", `a response frame has status ${status}, expected 0 or 1`);
  reader.end();
  return response;
}

/** RaftError prefixes its message with the code; the wire carries them apart. */
export function plainMessage(error: RaftError): string {
  const prefix = `${error.code}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

export function validateName(value: string, what: string): void {
  if (value.length === 0 || Buffer.byteLength(value) > MAX_NAME_BYTES) {
    throw new RaftError("EINVAL", `${what} must be 1 to ${MAX_NAME_BYTES} bytes of UTF-8, got ${Buffer.byteLength(value)} bytes`);
  }
}

function readError(reader: BinaryReader): RaftError {
  const code = reader.string();
  if (!ERROR_CODES.has(code)) throw new RaftError("ECORRUPT", `unknown error code "${code.slice(0, 32)}" from the peer`);
  const message = reader.string();
  if (message.length > MAX_ERROR_MESSAGE_CHARS) throw new RaftError("ECORRUPT", `an error text of ${message.length} characters (at most ${MAX_ERROR_MESSAGE_CHARS})`);
  const leaderHint = name(reader, "an error's leader hint", true);
  return new RaftError(code as RaftErrorCode, message, leaderHint === "" ? null : leaderHint);
}

function name(reader: BinaryReader, what: string, mayBeEmpty: boolean): string {
  const value = reader.string();
  if ((!mayBeEmpty && value.length === 0) || Buffer.byteLength(value) > MAX_NAME_BYTES) {
    throw new RaftError("ECORRUPT", `${what} is empty or longer than ${MAX_NAME_BYTES} bytes`);
  }
  return value;
}
