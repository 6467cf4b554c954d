/** Keys and values as the client takes them: bytes, or strings stored as UTF-8. */
import { RaftError } from "../errors.js";
import { decodeUtf8 } from "../transport/binary.js";

export type Bytes = Uint8Array | string;

const encoder = new TextEncoder();

export function toBytes(value: Bytes, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  throw new RaftError("EINVAL", `${what} must be a string or a Uint8Array, got ${value === null ? "null" : typeof value}`);
}

/** The bytes as UTF-8 text; EINVAL when they are not valid UTF-8. */
export function toText(bytes: Uint8Array): string {
  try {
    return decodeUtf8(bytes);
  } catch {
    throw new RaftError("EINVAL", `${bytes.byteLength} bytes are not valid UTF-8 text`);
  }
}

/** The bytes as UTF-8 text, or null when they are not valid UTF-8. */
export function textOrNull(bytes: Uint8Array): string | null {
  try {
    return decodeUtf8(bytes);
  } catch {
    return null;
  }
}
