/**
 * Pieces the KV codecs share: reading fields where every problem is a
 * RaftError with the payload's code (EINVAL for a client's request, ECORRUPT
 * for a log entry, a response or a snapshot), type codes by position, and
 * nullable bytes.
 */
import { RaftError, type RaftErrorCode } from "../errors.js";
import { BinaryReader, decodeUtf8, type BinaryWriter } from "../transport/binary.js";
import { plainMessage } from "../transport/protocol.js";

export function writeNullableBytes(writer: BinaryWriter, value: Uint8Array | null): void {
  writer.u8(value === null ? 0 : 1);
  if (value !== null) writer.bytes(value);
}

/** BinaryReader with typed fields; every problem is a RaftError with this payload's code. */
export class FieldReader {
  constructor(
    private readonly reader: BinaryReader,
    private readonly what: string,
    private readonly errorCode: RaftErrorCode,
  ) {}

  fail(problem: string): never {
    throw new RaftError(this.errorCode, `${this.what}: ${problem}`);
  }

  check(problem: string | null, where: string): void {
    if (problem !== null) this.fail(`${where}: ${problem}`);
  }

  version(expected: number): void {
    const version = this.reader.u8();
    if (version !== expected) this.fail(`format version ${version} is unknown (this build reads version ${expected})`);
  }

  u53(): number {
    return this.reader.u53();
  }

  /** A view into the input. */
  bytes(): Buffer {
    return this.reader.bytes();
  }

  boundedBytes(what: string, maxBytes: number): Buffer {
    const value = this.reader.bytes();
    if (value.length > maxBytes) this.fail(`${what} of ${value.length} bytes is above ${maxBytes}`);
    return value;
  }

  nullableBytes(what: string): Buffer | null {
    return this.flag(`${what}'s presence`) ? this.reader.bytes() : null;
  }

  nullableBoundedBytes(what: string, maxBytes: number): Buffer | null {
    return this.flag(`${what}'s presence`) ? this.boundedBytes(what, maxBytes) : null;
  }

  /** A string the caller checks (the validators bound it). */
  rawString(): string {
    return this.utf8Field(this.reader.bytes(), "a string");
  }

  string(what: string, minBytes: number, maxBytes: number): string {
    const bytes = this.reader.bytes();
    if (bytes.length < minBytes || bytes.length > maxBytes) this.fail(`${what} has ${bytes.length} bytes (must be ${minBytes} to ${maxBytes})`);
    return this.utf8Field(bytes, what);
  }

  flag(what: string): boolean {
    const value = this.reader.u8();
    if (value > 1) this.fail(`${what} is ${value}, expected 0 or 1`);
    return value === 1;
  }

  count(what: string, min: number, max: number): number {
    const count = this.reader.u32();
    if (count < min || count > max) this.fail(`${count} ${what} (must be ${min} to ${max})`);
    return count;
  }

  /** One of `names` by its code (position + 1). */
  code<T extends string>(what: string, names: readonly T[]): T {
    const code = this.reader.u8();
    const name = names[code - 1];
    if (name === undefined) this.fail(`unknown ${what} code ${code}`);
    return name;
  }

  end(): void {
    this.reader.end();
  }

  private utf8Field(bytes: Buffer, what: string): string {
    try {
      return decodeUtf8(bytes);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }
}

/** Decodes a whole payload (no trailing bytes) with `body`; any failure is a RaftError with `errorCode`. */
export function decodeWith<T>(bytes: Uint8Array, what: string, errorCode: RaftErrorCode, body: (reader: FieldReader) => T): T {
  if (!(bytes instanceof Uint8Array)) throw new RaftError(errorCode, `${what} must be bytes`);
  try {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const reader = new FieldReader(new BinaryReader(buffer, what), what, errorCode);
    const value = body(reader);
    reader.end();
    return value;
  } catch (error) {
    // BinaryReader says ECORRUPT for truncation; a client's request is EINVAL.
    if (error instanceof RaftError) throw error.code === errorCode ? error : new RaftError(errorCode, plainMessage(error));
    throw new RaftError(errorCode, `${what} cannot be decoded: ${String(error)}`);
  }
}

/** Wire codes of names: their position + 1 (0 is never a valid code). */
export function codesOf<T extends string>(names: readonly T[]): Record<T, number> {
  return Object.fromEntries(names.map((name, i) => [name, i + 1])) as Record<T, number>;
}
