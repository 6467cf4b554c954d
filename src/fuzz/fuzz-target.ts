/**
 * What every decoder and request handler must do with any input: return a
 * value, or throw a RaftError of an expected code with a message a person can
 * act on. Never another exception, never a hang, never memory out of
 * proportion to the input. A FuzzTarget bundles the fast-check properties
 * that check this for one decoder (and that well-formed values round-trip);
 * the bounded test/fuzz-*.test.ts and the long runner fuzz-run.ts share them.
 *
 * fast-check is a devDependency: src/fuzz runs only from a dev checkout (the
 * tests and the fuzz runner); nothing the package exports imports it.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { RaftError, type RaftErrorCode } from "../errors.js";
import { plainMessage } from "../transport/protocol.js";
import { byteMutator, randomBytes, type Mutator } from "./mutations.js";

export interface FuzzCounts {
  /** Inputs tried. */
  runs: number;
  /** Inputs decoded (or answered) as a value. */
  accepted: number;
  /** Inputs refused with a clear RaftError. */
  refused: number;
}

export interface FuzzProperty {
  /** "round trip", "damaged", "random", ... */
  readonly name: string;
  readonly property: fc.IRawProperty<never>;
}

export interface FuzzTarget {
  readonly name: string;
  readonly properties: readonly FuzzProperty[];
  readonly counts: FuzzCounts;
  /** Starts what the properties need (a folder, a server); close() undoes it. */
  open?(): Promise<void>;
  close?(): Promise<void>;
}

/** An input slower than this is a hang in the making: decoders are linear in their input, answers over loopback take milliseconds. */
const MAX_CASE_MS = 5000;
/** Memory one case may take beyond a multiple of its input: a lying length field must not buy more. */
const MEMORY_SLACK_BYTES = 64 * 1024 * 1024;
const MEMORY_PER_INPUT_BYTE = 16;
/** A message longer than this echoes input rather than explaining it. */
const MAX_MESSAGE_CHARS = 4096;
/** How a native exception reads once a catch-all wrapped it into a RaftError with String(error). */
const WRAPPED_NATIVE_ERROR = /\b(?:TypeError|RangeError|ReferenceError|SyntaxError|Error): /;

export function newCounts(): FuzzCounts {
  return { runs: 0, accepted: 0, refused: 0 };
}

/** Fails (an AssertionError, which fast-check reports with the input) unless `error` is a clear refusal. */
export function assertClearRefusal(error: unknown, codes: readonly RaftErrorCode[]): asserts error is RaftError {
  if (!(error instanceof RaftError)) {
    assert.fail(`not a RaftError escaped: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  assert.ok(codes.includes(error.code), `a RaftError ${error.code} where only ${codes.join(" or ")} belong: ${error.message}`);
  const text = plainMessage(error);
  assert.ok(text.trim().length >= 8, `the ${error.code} error says nothing a person can act on: ${JSON.stringify(error.message)}`);
  assert.ok(error.message.length <= MAX_MESSAGE_CHARS, `the ${error.code} error is ${error.message.length} characters long: ${error.message.slice(0, 200)}...`);
  assert.ok(!WRAPPED_NATIVE_ERROR.test(error.message), `the ${error.code} error wraps a crash: ${error.message}`);
}

/**
 * Runs a synchronous decode of `inputBytes` of input: its value, or undefined
 * when it was refused clearly; anything else fails the property.
 */
function decodeSoundly<T>(counts: FuzzCounts, codes: readonly RaftErrorCode[], inputBytes: number, decode: () => T): T | undefined {
  counts.runs++;
  const cost = startCost();
  let value: T;
  try {
    value = decode();
  } catch (error) {
    cost.check(inputBytes);
    assertClearRefusal(error, codes);
    counts.refused++;
    return undefined;
  }
  cost.check(inputBytes);
  counts.accepted++;
  return value;
}

/** decodeSoundly for decoders and handlers that answer asynchronously (time is checked, memory is not: other work interleaves). */
export async function decodeSoundlyAsync<T>(counts: FuzzCounts, codes: readonly RaftErrorCode[], decode: () => Promise<T>): Promise<T | undefined> {
  counts.runs++;
  const startMs = performance.now();
  let value: T;
  try {
    value = await decode();
  } catch (error) {
    assertFast(startMs);
    assertClearRefusal(error, codes);
    counts.refused++;
    return undefined;
  }
  assertFast(startMs);
  counts.accepted++;
  return value;
}

function startCost(): { check(inputBytes: number): void } {
  const startMs = performance.now();
  const startBytes = usedBytes();
  return {
    check(inputBytes) {
      assertFast(startMs);
      const grownBytes = usedBytes() - startBytes;
      const budgetBytes = MEMORY_SLACK_BYTES + MEMORY_PER_INPUT_BYTE * inputBytes;
      assert.ok(grownBytes <= budgetBytes, `decoding ${inputBytes} bytes took ${grownBytes} bytes of memory (budget ${budgetBytes})`);
    },
  };
}

function assertFast(startMs: number): void {
  const tookMs = performance.now() - startMs;
  assert.ok(tookMs <= MAX_CASE_MS, `one input took ${Math.round(tookMs)} ms (at most ${MAX_CASE_MS})`);
}

/** JS heap and buffers: what a decoder allocates, whichever way. */
function usedBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Plain data to compare: bytes as hex (decoders hand out Buffer views, encoders take Uint8Arrays), errors by their fields. */
export function comparable(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes ${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`;
  if (value instanceof RaftError) return { code: value.code, message: value.message, leaderHint: value.leaderHint };
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, comparable(field)]));
  return value;
}

/** A view of the bytes as the decoders take them, without a copy. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export interface CodecSpec<T, I> {
  readonly name: string;
  /** Well-formed values. */
  readonly valid: fc.Arbitrary<T>;
  encode(value: T): I;
  decode(input: I): T;
  /** The codes a refusal may carry. */
  readonly codes: readonly RaftErrorCode[];
  /** How well-formed encodings are damaged (mutations.ts). */
  readonly mutator: Mutator<I>;
  /** Inputs owing nothing to the format. */
  readonly random: fc.Arbitrary<I>;
  /** The size of an input, for the memory budget. */
  sizeOf(input: I): number;
}

/** A codec of bytes: damaged by the byte mutator, with random bytes beside, sized by length. */
export function byteCodecTarget<T>(spec: Omit<CodecSpec<T, Buffer>, "mutator" | "random" | "sizeOf">): FuzzTarget {
  return codecTarget({ ...spec, mutator: byteMutator, random: randomBytes(), sizeOf: (input) => input.length });
}

/**
 * The three properties of a synchronous codec: well-formed values survive
 * encode/decode; damaged and random inputs decode soundly; and what a decoder
 * accepts encodes back to itself, so a damaged input cannot become a value the
 * rest of the system cannot handle.
 */
export function codecTarget<T, I>(spec: CodecSpec<T, I>): FuzzTarget {
  const counts = newCounts();
  const roundTrips = (value: T): void => {
    assert.deepStrictEqual(comparable(spec.decode(spec.encode(value))), comparable(value));
  };
  const decodesSoundly = (input: I): void => {
    const value = decodeSoundly(counts, spec.codes, spec.sizeOf(input), () => spec.decode(input));
    if (value !== undefined) roundTrips(value);
  };
  return {
    name: spec.name,
    counts,
    properties: [
      named("round trip", fc.property(spec.valid, (value) => {
        counts.runs++;
        counts.accepted++;
        roundTrips(value);
      })),
      named("damaged", fc.property(spec.valid, spec.valid, spec.mutator.mutations, (value, donor, mutations) => {
        decodesSoundly(spec.mutator.apply(spec.encode(value), mutations, spec.encode(donor)));
      })),
      named("random", fc.property(spec.random, decodesSoundly)),
    ],
  };
}

export interface AsyncCodecSpec<T, I> extends Omit<CodecSpec<T, I>, "encode" | "decode" | "sizeOf"> {
  encode(value: T): Promise<I>;
  decode(input: I): Promise<T>;
  open?(): Promise<void>;
  close?(): Promise<void>;
}

/** codecTarget for codecs that read or write files. */
export function asyncCodecTarget<T, I>(spec: AsyncCodecSpec<T, I>): FuzzTarget {
  const counts = newCounts();
  const roundTrips = async (value: T): Promise<void> => {
    assert.deepStrictEqual(comparable(await spec.decode(await spec.encode(value))), comparable(value));
  };
  const decodesSoundly = async (input: I): Promise<void> => {
    const value = await decodeSoundlyAsync(counts, spec.codes, () => spec.decode(input));
    if (value !== undefined) await roundTrips(value);
  };
  return {
    name: spec.name,
    counts,
    ...(spec.open !== undefined ? { open: spec.open } : {}),
    ...(spec.close !== undefined ? { close: spec.close } : {}),
    properties: [
      named("round trip", fc.asyncProperty(spec.valid, async (value) => {
        counts.runs++;
        counts.accepted++;
        await roundTrips(value);
      })),
      named("damaged", fc.asyncProperty(spec.valid, spec.valid, spec.mutator.mutations, async (value, donor, mutations) => {
        await decodesSoundly(spec.mutator.apply(await spec.encode(value), mutations, await spec.encode(donor)));
      })),
      named("random", fc.asyncProperty(spec.random, decodesSoundly)),
    ],
  };
}

export function named<Ts>(name: string, property: fc.IRawProperty<Ts>): FuzzProperty {
  return { name, property: property as unknown as fc.IRawProperty<never> };
}
